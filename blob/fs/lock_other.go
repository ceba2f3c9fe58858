//go:build !unix

package fs

import "os"

// lock does nothing where flock(2) does not exist: there, nothing stops
// two processes from sharing a directory, and the caller must not.
func lock(root *os.Root, dir string) (*os.File, error) { return nil, nil }
