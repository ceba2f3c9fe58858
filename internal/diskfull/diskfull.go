// Package diskfull decides which errors mean that a disk is full, for the
// job stores and the blob stores alike, which know nothing of each other:
// store.ErrInsufficientStorage and blob.ErrInsufficientStorage are its Err.
package diskfull

import (
	"errors"
	"fmt"
	"syscall"
)

// Err says that the disk under a store is full.
var Err = errors.New("insufficient storage")

// Wrap returns err wrapped with Err when it says that a disk is full
// (ENOSPC, or EDQUOT: a quota is used up), and err otherwise.
func Wrap(err error) error {
	if err == nil || errors.Is(err, Err) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", Err, err)
	}
	return err
}
