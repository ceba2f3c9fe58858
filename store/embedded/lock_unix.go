//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package embedded

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockHolder reports whether another process holds the write lock that
// Pebble takes on path (fcntl F_SETLK), and its pid when the system says.
func lockHolder(path string) (pid int, held bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil || lk.Type == unix.F_UNLCK {
		return 0, false
	}
	return int(lk.Pid), true
}
