// Package fs is the default blob store of Gantry: payloads kept as files in
// a directory, normally the blobs directory inside the data dir.
//
// Every file operation goes through an os.Root, so nothing a caller passes
// can reach outside the directory, and keys are never used as file names:
// a payload lives in a file named after the SHA-256 of its key, in two
// levels of fan-out directories (256 × 256) taken from that digest, so that
// no directory grows huge and time-ordered keys (UUIDv7) spread evenly:
//
//	dir/
//	  tmp/                      payloads being written
//	  ab/cd/<digest>.meta       key, size, sha256, content type, data file name
//	  ab/cd/<digest>.<gen>      the payload, one file per Put
//
// Put streams the payload into a temporary file while hashing and counting
// it, fsyncs it, moves it into place, then commits by atomically replacing
// the small metadata file and fsyncing the directory. A failed, oversized or
// cancelled Put leaves nothing behind, and a crash at any point leaves
// either the old payload or the new one, never a mix. Files a crash left
// unreferenced are removed by the next Put or Delete of the same key, and
// temporary files by the next Open.
//
// One process at a time may use a directory: Open takes an flock(2) on
// dir/LOCK (holding this process's id) and fails with ErrLocked while
// another Store holds it, in this process or another. So every temporary
// file Open finds is a dead process's, and Open removes them all. Within
// the process, a Store is safe for concurrent use. List walks the
// payloads, for sweeps of uploads that no job refers to.
package fs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/internal/diskfull"
)

// ErrLocked: another Store, in this process or another, has the directory
// open.
var ErrLocked = errors.New("blob/fs: directory in use")

const (
	tmpDir     = "tmp"
	metaSuffix = ".meta"
	dirPerm    = 0o700
	filePerm   = 0o600
	bufSize    = 256 << 10
	lockStripe = 256
	// openRetries bounds how often Open re-reads the metadata when a
	// concurrent Put replaced the payload between the two reads.
	openRetries = 3
)

// Store keeps payloads as files under one directory. It implements
// blob.Store; its Open returns an *os.File, so readers can Seek (for HTTP
// Range requests) and the kernel can send the file without copying.
type Store struct {
	root fsys // an *os.Root's (rootFS), but for the power-loss test
	dir  string
	lock *os.File // holds the flock on LOCK; nil where there is none
	// locks serialize the commit and clean-up of one key (striped by the
	// key's digest); they are never held while a payload streams in.
	locks [lockStripe]sync.Mutex
}

var _ blob.Store = (*Store)(nil)

// meta is the content of a payload's metadata file.
type meta struct {
	Version     int       `json:"v"`
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type,omitempty"`
	Data        string    `json:"data"` // the payload's file name, in the same directory
	CreatedAt   time.Time `json:"created_at"`
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Open opens (creating it if needed) the store in dir, locks it (see
// ErrLocked) and removes the temporary files of crashed Puts. Close
// releases it.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("blob/fs: no directory given")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("blob/fs: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob/fs: %w", err)
	}
	lockFile, err := lock(root, dir)
	if err != nil {
		root.Close()
		return nil, err
	}
	return openOn(rootFS{root}, dir, lockFile)
}

// openOn opens the store on fsys, whose lock (if any) the caller took, and
// removes the temporary files of crashed Puts.
func openOn(root fsys, dir string, lockFile *os.File) (*Store, error) {
	s := &Store{root: root, dir: dir, lock: lockFile}
	if err := root.MkdirAll(tmpDir, dirPerm); err != nil {
		s.Close()
		return nil, fmt.Errorf("blob/fs: %w", err)
	}
	if err := s.removeTemps(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Dir returns the directory the store was opened in.
func (s *Store) Dir() string { return s.dir }

// Close releases the directory and its lock. Calls after Close fail.
func (s *Store) Close() error {
	err := s.root.Close()
	if s.lock != nil {
		if cerr := s.lock.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// removeTemps removes every temporary file: with the directory locked, no
// live Put owns one.
func (s *Store) removeTemps() error {
	d, err := s.root.Open(tmpDir)
	if err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("blob/fs: reading %s: %w", tmpDir, err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if err := s.root.Remove(path.Join(tmpDir, e.Name())); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("blob/fs: removing a crashed Put's temporary file: %w", err)
		}
	}
	return nil
}

// location is where a key's files live.
type location struct {
	dir    string // "ab/cd"
	base   string // hex SHA-256 of the key
	stripe int
}

func locate(key string) location {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return location{dir: h[0:2] + "/" + h[2:4], base: h, stripe: int(sum[0])}
}

func (l location) metaPath() string           { return l.dir + "/" + l.base + metaSuffix }
func (l location) dataName(gen string) string { return l.base + "." + gen }

func newGen() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Put streams r into the payload under key; see blob.Store. A limit of
// zero or less means none. Put checks ctx between reads: a Read that
// blocks forever is the caller's to end (an HTTP server closes a request
// body when the request ends). Once ctx ends, Put removes what it wrote and
// returns an error wrapping context.Cause(ctx).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, contentType string, limit int64) (_ *blob.Info, err error) {
	defer func() { err = diskfull.Wrap(err) }() // a full disk is blob.ErrInsufficientStorage
	if err := blob.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("blob/fs: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, context.Cause(ctx))
	}
	gen := newGen()
	tmpData := path.Join(tmpDir, gen+".part")
	tmpMeta := path.Join(tmpDir, gen+metaSuffix)
	committed := false
	defer func() {
		if !committed {
			_ = s.root.Remove(tmpData)
			_ = s.root.Remove(tmpMeta)
		}
	}()

	f, err := s.root.OpenFile(tmpData, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	h := sha256.New()
	n, err := copyLimited(ctx, f, h, r, limit)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}

	loc := locate(key)
	m := meta{
		Version:     1,
		Key:         key,
		Size:        n,
		SHA256:      hex.EncodeToString(h.Sum(nil)),
		ContentType: contentType,
		Data:        loc.dataName(gen),
		CreatedAt:   time.Now().UTC(),
	}
	if err := s.writeFile(tmpMeta, m); err != nil {
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	if err := s.mkdirs(loc.dir); err != nil {
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	// The last point at which the caller can still change its mind.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, context.Cause(ctx))
	}

	mu := &s.locks[loc.stripe]
	mu.Lock()
	defer mu.Unlock()
	if err := s.root.Rename(tmpData, path.Join(loc.dir, m.Data)); err != nil {
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	// The rename of the metadata file is the commit: before it, readers see
	// the old payload (or none); after it, the new one.
	if err := s.root.Rename(tmpMeta, loc.metaPath()); err != nil {
		_ = s.root.Remove(path.Join(loc.dir, m.Data))
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	committed = true
	if err := s.syncDir(loc.dir); err != nil {
		return nil, fmt.Errorf("blob/fs: put %q: %w", key, err)
	}
	s.sweep(loc, m.Data)
	return &blob.Info{Key: key, Size: m.Size, SHA256: m.SHA256, ContentType: m.ContentType}, nil
}

// copyLimited copies src to both dst and h until EOF, failing with
// blob.ErrTooLarge past limit bytes and with ctx's cause once ctx ends.
func copyLimited(ctx context.Context, dst io.Writer, h hash.Hash, src io.Reader, limit int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		if ctx.Err() != nil {
			return n, context.Cause(ctx)
		}
		k, rerr := src.Read(buf)
		if k > 0 {
			if limit > 0 && n+int64(k) > limit {
				return n, fmt.Errorf("%w: more than %d bytes", blob.ErrTooLarge, limit)
			}
			if _, err := dst.Write(buf[:k]); err != nil {
				return n, err
			}
			h.Write(buf[:k])
			n += int64(k)
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr != nil:
			return n, fmt.Errorf("reading the payload: %w", rerr)
		}
	}
}

func (s *Store) writeFile(name string, m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirs creates the fan-out directory dir ("ab/cd") when missing, and
// makes the new directory entries durable.
func (s *Store) mkdirs(dir string) error {
	if _, err := s.root.Stat(dir); err == nil {
		return nil
	}
	if err := s.root.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	parent, _ := path.Split(dir)
	if err := s.syncDir(strings.TrimSuffix(parent, "/")); err != nil {
		return err
	}
	return s.syncDir(".")
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// sweep removes the files of loc other than its metadata and the data file
// keep: payloads replaced or deleted, and those a crash left unreferenced.
// Failures only leave garbage behind, so they are ignored. The caller holds
// loc's lock.
func (s *Store) sweep(loc location, keep string) {
	d, err := s.root.Open(loc.dir)
	if err != nil {
		return
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return
	}
	prefix := loc.base + "."
	for _, name := range names {
		if name == keep || name == loc.base+metaSuffix || !strings.HasPrefix(name, prefix) {
			continue
		}
		_ = s.root.Remove(path.Join(loc.dir, name))
	}
}

// Open returns the payload under key and its Info, or an error wrapping
// blob.ErrNotFound. The io.ReadCloser is an *os.File.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, *blob.Info, error) {
	if err := blob.ValidateKey(key); err != nil {
		return nil, nil, fmt.Errorf("blob/fs: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("blob/fs: open %q: %w", key, context.Cause(ctx))
	}
	loc := locate(key)
	for range openRetries {
		m, err := s.readMeta(loc)
		if err != nil {
			return nil, nil, fmt.Errorf("blob/fs: open %q: %w", key, err)
		}
		f, err := s.root.Open(path.Join(loc.dir, m.Data))
		if errors.Is(err, iofs.ErrNotExist) {
			continue // replaced or deleted since the metadata was read
		}
		if err != nil {
			return nil, nil, fmt.Errorf("blob/fs: open %q: %w", key, err)
		}
		return f, &blob.Info{Key: key, Size: m.Size, SHA256: m.SHA256, ContentType: m.ContentType}, nil
	}
	return nil, nil, fmt.Errorf("blob/fs: open %q: %w", key, blob.ErrNotFound)
}

func (s *Store) readMeta(loc location) (*meta, error) {
	b, err := s.root.ReadFile(loc.metaPath())
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, blob.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", loc.metaPath(), err)
	}
	if m.Data == "" || m.Data != path.Base(m.Data) || !strings.HasPrefix(m.Data, loc.base+".") {
		return nil, fmt.Errorf("reading %s: bad data file name %q", loc.metaPath(), m.Data)
	}
	return &m, nil
}

// Delete removes the payload under key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob/fs: delete %q: %w", key, context.Cause(ctx))
	}
	loc := locate(key)
	mu := &s.locks[loc.stripe]
	mu.Lock()
	defer mu.Unlock()
	err := s.root.Remove(loc.metaPath())
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		// Nothing committed; still sweep what a crash may have left.
	case err != nil:
		return fmt.Errorf("blob/fs: delete %q: %w", key, err)
	default:
		if err := s.syncDir(loc.dir); err != nil {
			return fmt.Errorf("blob/fs: delete %q: %w", key, err)
		}
	}
	s.sweep(loc, "")
	return nil
}
