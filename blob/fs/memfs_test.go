package fs

import (
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// memFS is an fsys in memory that knows what a power loss keeps: a file's
// content as of its last Sync, and a directory's entries as of its last
// Sync. crash returns the images a crash at this moment may leave. After
// every change it calls onChange, which the power-loss test uses to take
// those images at every crash point.
type memFS struct {
	mu       sync.Mutex
	root     *memNode
	onChange func(*memFS)
}

type memNode struct {
	dir            bool
	data, synced   []byte              // a file's content, now and as of its last Sync
	entries, saved map[string]*memNode // a directory's entries, now and as of its last Sync
	mod            time.Time
}

func newDir() *memNode {
	return &memNode{dir: true, entries: map[string]*memNode{}, saved: map[string]*memNode{}, mod: time.Now()}
}

func newMemFS() *memFS { return &memFS{root: newDir()} }

// Crash images.
const (
	// powerLoss keeps only what was synced: file contents and directory
	// entries.
	powerLoss = iota
	// metadataFirst keeps every directory change (a journal that commits
	// names before data) but only the synced contents of files.
	metadataFirst
	// processCrash keeps everything: the kernel had it all (SIGKILL).
	processCrash
)

var crashNames = [...]string{"power loss", "metadata first", "process crash"}

// crash returns the filesystem a crash of the given kind would leave.
// The caller holds fs.mu.
func (fs *memFS) crash(kind int) *memFS {
	var img func(n *memNode) *memNode
	img = func(n *memNode) *memNode {
		if !n.dir {
			src := n.data
			if kind == powerLoss || kind == metadataFirst {
				src = n.synced
			}
			return &memNode{data: bytes.Clone(src), synced: bytes.Clone(src), mod: n.mod}
		}
		d := newDir()
		d.mod = n.mod
		src := n.saved
		if kind == metadataFirst || kind == processCrash {
			src = n.entries
		}
		for name, c := range src {
			d.entries[name] = img(c)
			d.saved[name] = d.entries[name]
		}
		return d
	}
	return &memFS{root: img(fs.root)}
}

func (fs *memFS) changed() {
	if fs.onChange != nil {
		fs.onChange(fs)
	}
}

func split(name string) []string {
	name = path.Clean(name)
	if name == "." || name == "" {
		return nil
	}
	return strings.Split(name, "/")
}

// lookup returns the node of name, or nil. The caller holds fs.mu.
func (fs *memFS) lookup(name string) *memNode {
	n := fs.root
	for _, p := range split(name) {
		if !n.dir {
			return nil
		}
		if n = n.entries[p]; n == nil {
			return nil
		}
	}
	return n
}

// parent returns the directory of name and name's last element.
func (fs *memFS) parent(name string) (*memNode, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", errors.New("memfs: no name")
	}
	d := fs.lookup(strings.Join(parts[:len(parts)-1], "/"))
	if d == nil || !d.dir {
		return nil, "", iofs.ErrNotExist
	}
	return d, parts[len(parts)-1], nil
}

func pathErr(op, name string, err error) error { return &iofs.PathError{Op: op, Path: name, Err: err} }

func (fs *memFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, base, err := fs.parent(name)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	n := d.entries[base]
	switch {
	case n != nil && flag&os.O_EXCL != 0:
		return nil, pathErr("open", name, iofs.ErrExist)
	case n == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, iofs.ErrNotExist)
	case n == nil:
		n = &memNode{mod: time.Now()}
		d.entries[base] = n
		defer fs.changed()
	}
	return &memFile{fs: fs, n: n, name: base}, nil
}

func (fs *memFS) Open(name string) (file, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.lookup(name)
	if n == nil {
		return nil, pathErr("open", name, iofs.ErrNotExist)
	}
	f := &memFile{fs: fs, n: n, name: path.Base(name)}
	if !n.dir {
		f.r = bytes.NewReader(bytes.Clone(n.data))
	}
	return f, nil
}

func (fs *memFS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, base, err := fs.parent(name)
	if err != nil {
		return pathErr("remove", name, err)
	}
	n := d.entries[base]
	if n == nil {
		return pathErr("remove", name, iofs.ErrNotExist)
	}
	if n.dir && len(n.entries) > 0 {
		return pathErr("remove", name, errors.New("directory not empty"))
	}
	delete(d.entries, base)
	fs.changed()
	return nil
}

func (fs *memFS) Rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	od, ob, err := fs.parent(oldname)
	if err != nil {
		return pathErr("rename", oldname, err)
	}
	nd, nb, err := fs.parent(newname)
	if err != nil {
		return pathErr("rename", newname, err)
	}
	n := od.entries[ob]
	if n == nil {
		return pathErr("rename", oldname, iofs.ErrNotExist)
	}
	delete(od.entries, ob)
	nd.entries[nb] = n
	fs.changed()
	return nil
}

func (fs *memFS) Stat(name string) (os.FileInfo, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.lookup(name)
	if n == nil {
		return nil, pathErr("stat", name, iofs.ErrNotExist)
	}
	return memInfo{name: path.Base(name), n: n}, nil
}

func (fs *memFS) MkdirAll(name string, perm os.FileMode) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d := fs.root
	made := false
	for _, p := range split(name) {
		c := d.entries[p]
		switch {
		case c == nil:
			c = newDir()
			d.entries[p] = c
			made = true
		case !c.dir:
			return pathErr("mkdir", name, errors.New("not a directory"))
		}
		d = c
	}
	if made {
		fs.changed()
	}
	return nil
}

func (fs *memFS) ReadFile(name string) ([]byte, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.lookup(name)
	if n == nil {
		return nil, pathErr("open", name, iofs.ErrNotExist)
	}
	if n.dir {
		return nil, pathErr("read", name, errors.New("is a directory"))
	}
	return bytes.Clone(n.data), nil
}

func (fs *memFS) Close() error { return nil }

// memFile is an open file or directory of a memFS. Reads see the content
// as of the open.
type memFile struct {
	fs   *memFS
	n    *memNode
	name string
	r    *bytes.Reader
}

func (f *memFile) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, errors.New("memfs: not open for reading")
	}
	return f.r.Read(p)
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.n.data = append(f.n.data, p...)
	f.n.mod = time.Now()
	f.fs.changed()
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.n.dir {
		f.n.saved = make(map[string]*memNode, len(f.n.entries))
		for k, v := range f.n.entries {
			f.n.saved[k] = v
		}
	} else {
		f.n.synced = bytes.Clone(f.n.data)
	}
	f.fs.changed()
	return nil
}

func (f *memFile) Close() error { return nil }

func (f *memFile) ReadDir(int) ([]os.DirEntry, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if !f.n.dir {
		return nil, errors.New("memfs: not a directory")
	}
	var out []os.DirEntry
	for name, c := range f.n.entries {
		out = append(out, iofs.FileInfoToDirEntry(memInfo{name: name, n: c}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (f *memFile) Readdirnames(n int) ([]string, error) {
	entries, err := f.ReadDir(n)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, err
}

type memInfo struct {
	name string
	n    *memNode
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return int64(len(i.n.data)) }
func (i memInfo) Mode() os.FileMode {
	if i.n.dir {
		return os.ModeDir | 0o700
	}
	return 0o600
}
func (i memInfo) ModTime() time.Time { return i.n.mod }
func (i memInfo) IsDir() bool        { return i.n.dir }
func (i memInfo) Sys() any           { return nil }

var _ io.Reader = (*memFile)(nil)
