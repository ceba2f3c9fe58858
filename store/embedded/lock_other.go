//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris)

package embedded

// lockHolder reports that no lock is known to be held: without POSIX
// record locks, Open's error is Pebble's own.
func lockHolder(path string) (pid int, held bool) { return 0, false }
