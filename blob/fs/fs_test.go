package fs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/blob/blobtest"
	"github.com/gantry-dev/gantry/blob/fs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func setup(t *testing.T) (*fs.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// files lists the regular files under dir, relative to it, but the lock
// file.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(dir, p); d.Type().IsRegular() && rel != "LOCK" {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustRead(t *testing.T, s *fs.Store, key string) ([]byte, *blob.Info) {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, info
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("gantry "), 100_000)
	info, err := s.Put(ctx, "jobs/01/payload", bytes.NewReader(data), "image/png", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := blob.Info{Key: "jobs/01/payload", Size: int64(len(data)), SHA256: digest(data), ContentType: "image/png"}
	if *info != want {
		t.Fatalf("Put: got %+v, want %+v", *info, want)
	}
	got, oinfo := mustRead(t, s, "jobs/01/payload")
	if !bytes.Equal(got, data) {
		t.Fatal("Open: the payload differs from what was put")
	}
	if *oinfo != want {
		t.Fatalf("Open: got %+v, want %+v", *oinfo, want)
	}
	if digest(got) != oinfo.SHA256 {
		t.Fatal("Open: sha256 does not match the content")
	}

	// The reader is an *os.File and seeks, so HTTP Range requests work.
	rc, _, err := s.Open(ctx, "jobs/01/payload")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Fatalf("Open returned %T, want *os.File", rc)
	}
	rs := rc.(io.ReadSeeker)
	if _, err := rs.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(rs, buf); err != nil || string(buf) != "gantry" {
		t.Fatalf("after Seek: %q, %v", buf, err)
	}
}

func TestEmptyPayload(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	info, err := s.Put(context.Background(), "empty", strings.NewReader(""), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 0 || info.SHA256 != digest(nil) {
		t.Fatalf("got %+v", info)
	}
	got, _ := mustRead(t, s, "empty")
	if len(got) != 0 {
		t.Fatalf("read %d bytes", len(got))
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "exact", strings.NewReader("12345"), "text/plain", 5); err != nil {
		t.Fatalf("a payload of exactly the limit: %v", err)
	}
	_, err := s.Put(ctx, "over", strings.NewReader("123456"), "text/plain", 5)
	if !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("over the limit: got %v, want ErrTooLarge", err)
	}
	if _, _, err := s.Open(ctx, "over"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open after a refused Put: %v, want ErrNotFound", err)
	}
	if got := files(t, dir); len(got) != 2 { // exact: data and meta
		t.Fatalf("files left: %v", got)
	}
}

// cancelReader yields data forever and cancels its context after n bytes.
type cancelReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	r.n -= len(p)
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestCancelMidStream(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := s.Put(ctx, "cancelled", &cancelReader{n: 1 << 20, cancel: cancel}, "", 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("files left: %v", got)
	}
	if _, _, err := s.Open(context.Background(), "cancelled"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open: %v", err)
	}
}

type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	r.n -= len(p)
	return len(p), nil
}

func TestReaderError(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	_, err := s.Put(context.Background(), "broken", &errReader{n: 100_000}, "", 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("files left: %v", got)
	}
}

func TestReplaceAndDelete(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	ctx := context.Background()
	for _, v := range []string{"first", "second"} {
		if _, err := s.Put(ctx, "k", strings.NewReader(v), "text/"+v, 0); err != nil {
			t.Fatal(err)
		}
	}
	got, info := mustRead(t, s, "k")
	if string(got) != "second" || info.ContentType != "text/second" {
		t.Fatalf("got %q %+v", got, info)
	}
	if f := files(t, dir); len(f) != 2 {
		t.Fatalf("the replaced payload was not removed: %v", f)
	}
	for range 2 { // idempotent
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "never-put"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(ctx, "k"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open after Delete: %v", err)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Fatalf("files left: %v", f)
	}
}

func TestConcurrentPuts(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range writers {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte('a' + i)}, 64<<10+i)
			if _, err := s.Put(ctx, fmt.Sprintf("own/%d", i), bytes.NewReader(data), "", 0); err != nil {
				errs <- err
			}
			// Everyone also writes, and reads, one shared key.
			if _, err := s.Put(ctx, "shared", bytes.NewReader(data), "", 0); err != nil {
				errs <- err
			}
			rc, info, err := s.Open(ctx, "shared")
			if err != nil {
				errs <- err
				return
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err == nil && (int64(len(b)) != info.Size || digest(b) != info.SHA256) {
				err = fmt.Errorf("shared: read %d bytes that do not match %+v", len(b), info)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range writers {
		b, info := mustRead(t, s, fmt.Sprintf("own/%d", i))
		if len(b) != 64<<10+i || b[0] != byte('a'+i) || digest(b) != info.SHA256 {
			t.Errorf("own/%d: wrong content", i)
		}
	}
}

func TestBadKeys(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	ctx := context.Background()
	bad := []string{
		"", "/etc/passwd", "../escape", "a/../../b", "a/..", "..", ".", "./a", "a//b", "a/",
		"a\x00b", "a\\..\\b", "a\nb", strings.Repeat("k", blob.MaxKeyLen+1), "\xff",
	}
	for _, key := range bad {
		if _, err := s.Put(ctx, key, strings.NewReader("x"), "", 0); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if _, _, err := s.Open(ctx, key); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open(%q): %v, want a key error", key, err)
		}
		if err := s.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded", key)
		}
	}
	if f := files(t, dir); len(f) != 0 {
		t.Fatalf("files written: %v", f)
	}
}

// A symbolic link planted in the store cannot lead writes outside it.
func TestSymlinkEscape(t *testing.T) {
	t.Parallel()
	s, dir := setup(t)
	outside := t.TempDir()
	sum := sha256.Sum256([]byte("victim"))
	h := hex.EncodeToString(sum[:])
	if err := os.Symlink(outside, filepath.Join(dir, h[:2])); err != nil {
		t.Skip("no symlinks here:", err)
	}
	if _, err := s.Put(context.Background(), "victim", strings.NewReader("x"), "", 0); err == nil {
		t.Fatal("Put through a symlink pointing outside the store succeeded")
	}
	if f := files(t, outside); len(f) != 0 {
		t.Fatalf("files written outside the store: %v", f)
	}
}

// TestCrashedTempsRemovedAtOpen: the directory is locked, so every
// temporary file Open finds is a dead process's (kill -9 mid-upload), old
// or new: Open removes them all.
func TestCrashedTempsRemovedAtOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	stale := filepath.Join(dir, "tmp", "crashed.part")
	fresh := filepath.Join(dir, "tmp", "inflight.part")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	s, err = fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, p := range []string{stale, fresh} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary file %s: %v, want it removed", filepath.Base(p), err)
		}
	}
}

// TestLock: a second Store on the same directory, in this process or
// another, fails with ErrLocked naming the holder's pid, and leaves the
// first one's temporary files alone; once the first closes, it opens.
func TestLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := fs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	inflight := filepath.Join(dir, "tmp", "inflight.part")
	if err := os.WriteFile(inflight, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = fs.Open(dir)
	if !errors.Is(err, fs.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second Open: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	if _, err := os.Stat(inflight); err != nil {
		t.Errorf("the second Open touched the first one's temporary file: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = fs.Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

// TestList: List finds the payloads under a prefix stored within the
// window, with their keys, sizes and times.
func TestList(t *testing.T) {
	t.Parallel()
	s, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	for _, k := range []string{"uploads/a", "uploads/b", "other/c"} {
		if _, err := s.Put(ctx, k, strings.NewReader(k), "", 0); err != nil {
			t.Fatal(err)
		}
	}
	list := func(p *blob.ListParams) map[string]int64 { return blobtest.Listed(ctx, t, s, p) }
	if got := list(&blob.ListParams{Prefix: "uploads/"}); len(got) != 2 || got["uploads/a"] != 9 || got["uploads/b"] != 9 {
		t.Errorf("List uploads/ = %v", got)
	}
	if got := list(&blob.ListParams{StoredBefore: time.Now().Add(-time.Minute)}); len(got) != 0 {
		t.Errorf("List stored before a minute ago = %v, want none", got)
	}
	if err := s.Delete(ctx, "uploads/a"); err != nil {
		t.Fatal(err)
	}
	if got := list(&blob.ListParams{StoredAfter: time.Now().Add(-time.Minute)}); len(got) != 2 || got["other/c"] != 7 {
		t.Errorf("List after a Delete = %v", got)
	}
}

// genReader generates n bytes without holding them.
type genReader struct {
	left   int64
	onRead func()
}

func (r *genReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for i := range p {
		p[i] = byte(r.left - int64(i))
	}
	r.left -= int64(len(p))
	if r.onRead != nil {
		r.onRead()
	}
	return len(p), nil
}

// A large payload streams through in bounded memory.
func TestStreamMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	// Not parallel: it measures the heap of the whole process.
	s, _ := setup(t)
	const size = 64 << 20
	const budget = 8 << 20
	var peak uint64
	var ms runtime.MemStats
	reads := 0
	r := &genReader{left: size, onRead: func() {
		reads++
		if reads%64 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	info, err := s.Put(context.Background(), "big", r, "application/octet-stream", 0)
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if info.Size != size {
		t.Fatalf("size %d", info.Size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > budget {
		t.Errorf("Put allocated %d bytes for a %d-byte payload", alloc, size)
	}
	if peak > before.HeapInuse+budget {
		t.Errorf("heap in use grew from %d to %d bytes while streaming", before.HeapInuse, peak)
	}
	rc, _, err := s.Open(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if n, err := io.Copy(h, rc); err != nil || n != size {
		t.Fatalf("read back %d bytes: %v", n, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != info.SHA256 {
		t.Fatal("sha256 of the stored payload does not match")
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	if _, err := fs.Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Open(f); err == nil {
		t.Error("Open of a regular file succeeded")
	}
	s, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, "k", strings.NewReader("x"), "", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v", err)
	}
}
