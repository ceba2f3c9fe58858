//go:build unix

package fs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockName is the lock file in the store's directory.
const lockName = "LOCK"

// lock takes an exclusive flock(2) on dir/LOCK, held by the returned file
// until it is closed (or the process dies, when the kernel drops it), and
// writes this process's id into it. When another process (or another
// Store of this one) holds it, the error says so, with its pid.
func lock(root *os.Root, dir string) (*os.File, error) {
	f, err := root.OpenFile(lockName, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("blob/fs: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := root.ReadFile(lockName)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				holder = fmt.Sprintf("another process (pid %d)", pid)
			}
			return nil, fmt.Errorf("%w: %s is in use by %s; one process at a time may use a blob directory", ErrLocked, dir, holder)
		}
		return nil, fmt.Errorf("blob/fs: locking %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
