package fs

import (
	"io"
	"os"
)

// fsys is the filesystem a Store works on. Open gives it an *os.Root; the
// power-loss test gives it a memory filesystem that drops, at a simulated
// crash, every write and directory change not yet synced.
type fsys interface {
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Open(name string) (file, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	Stat(name string) (os.FileInfo, error)
	MkdirAll(name string, perm os.FileMode) error
	ReadFile(name string) ([]byte, error)
	Close() error
}

// file is an open file or directory of an fsys. Those of an *os.Root are
// *os.File, which Store.Open hands to its callers.
type file interface {
	io.ReadWriteCloser
	Sync() error
	ReadDir(n int) ([]os.DirEntry, error)
	Readdirnames(n int) ([]string, error)
}

// rootFS is the fsys of an *os.Root.
type rootFS struct{ r *os.Root }

func (f rootFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	return orNil(f.r.OpenFile(name, flag, perm))
}
func (f rootFS) Open(name string) (file, error)            { return orNil(f.r.Open(name)) }
func (f rootFS) Remove(name string) error                  { return f.r.Remove(name) }
func (f rootFS) Rename(oldname, newname string) error      { return f.r.Rename(oldname, newname) }
func (f rootFS) Stat(name string) (os.FileInfo, error)     { return f.r.Stat(name) }
func (f rootFS) MkdirAll(name string, p os.FileMode) error { return f.r.MkdirAll(name, p) }
func (f rootFS) ReadFile(name string) ([]byte, error)      { return f.r.ReadFile(name) }
func (f rootFS) Close() error                              { return f.r.Close() }

// orNil keeps a nil *os.File from becoming a non-nil file.
func orNil(f *os.File, err error) (file, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}
