package embedded

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrLocked: another process has the store's directory open. An embedded
// store is opened by one process at a time; errors.As with *LockedError
// gives the directory and, where known, the process.
var ErrLocked = errors.New("embedded: the store's directory is in use by another process")

// LockedError is the error of Open when another process holds the lock of
// the store's directory (Pebble's LOCK file).
type LockedError struct {
	// Dir is the store's directory.
	Dir string
	// PID is the process that holds the lock, 0 when the system does not
	// say (another PID namespace, or a system without POSIX record locks).
	PID int
	// Err is the error of the lock attempt.
	Err error
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("another process (pid %d)", e.PID)
	}
	return fmt.Sprintf("embedded: %s is in use by %s: an embedded store is opened by one process at a time", e.Dir, who)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Unwrap returns the error of the lock attempt.
func (e *LockedError) Unwrap() error { return e.Err }

// lockedError returns a *LockedError when openErr, the error of opening
// the database in dir, comes from a lock that another process holds, and
// nil otherwise. The lock is Pebble's (a POSIX record lock on dir/LOCK);
// the kernel names its holder, so the pid needs no file of its own and is
// never stale.
func lockedError(dir string, openErr error) error {
	pid, held := lockHolder(filepath.Join(dir, "LOCK"))
	if !held {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return &LockedError{Dir: abs, PID: pid, Err: openErr}
}
