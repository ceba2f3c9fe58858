package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/blob/blobtest"
	"github.com/gantry-dev/gantry/blob/s3"
	"github.com/gantry-dev/gantry/blob/s3/s3test"
)

// gw is the versitygw that the tests of this package share, each in a
// bucket of its own.
var gw s3test.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := gw.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping versitygw:", err)
	}
	// After Stop: a goroutine waits for the server process until then.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// partSize is the smallest part S3 allows, so that the tests reach
// multipart uploads with little data.
const partSize = s3.MinPartSize

// env is what a test works with: a store on a new bucket of the shared
// server, under the prefix "blobs/".
type env struct {
	srv    *s3test.Server
	bucket string
	store  *s3.Store
	client *minio.Core
}

func setup(t *testing.T, opts *s3.Options) *env {
	t.Helper()
	srv := gw.Get(t)
	e := &env{srv: srv, bucket: srv.NewBucket(t), client: srv.Client(t)}
	e.store = e.open(t, srv.URL(e.bucket, "blobs"), opts)
	return e
}

// open opens a store with the server's credentials and small parts,
// unless opts says otherwise.
func (e *env) open(t *testing.T, url string, opts *s3.Options) *s3.Store {
	t.Helper()
	o := s3.Options{}
	if opts != nil {
		o = *opts
	}
	if o.AccessKeyID == "" {
		o.AccessKeyID, o.SecretAccessKey = s3test.AccessKeyID, s3test.SecretAccessKey
	}
	if o.PartSize == 0 {
		o.PartSize = partSize
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := s3.Open(ctx, url, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// objects lists the objects of the bucket.
func (e *env) objects(t *testing.T) []string {
	t.Helper()
	var names []string
	for obj := range e.client.Client.ListObjects(context.Background(), e.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		names = append(names, obj.Key)
	}
	slices.Sort(names)
	return names
}

// uploads lists the bucket's incomplete multipart uploads.
func (e *env) uploads(t *testing.T) []string {
	t.Helper()
	res, err := e.client.ListMultipartUploads(context.Background(), e.bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range res.Uploads {
		out = append(out, u.Key+" "+u.UploadID)
	}
	return out
}

// assertOnly fails t unless the bucket holds exactly the objects want
// (names under the store's prefix "blobs/") and no incomplete upload.
func (e *env) assertOnly(t *testing.T, want ...string) {
	t.Helper()
	var names []string
	for _, w := range want {
		names = append(names, "blobs/"+w)
	}
	slices.Sort(names)
	if got := e.objects(t); !slices.Equal(got, names) {
		t.Errorf("objects in the bucket: %q, want %q", got, names)
	}
	if got := e.uploads(t); len(got) != 0 {
		t.Errorf("incomplete multipart uploads left: %q", got)
	}
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// payload returns n bytes that differ from one position to the next.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func mustRead(t *testing.T, s *s3.Store, key string) ([]byte, *blob.Info) {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b, info
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	cases := []struct {
		name        string
		size        int
		contentType string
		wantType    string
	}{
		{"empty", 0, "", s3.DefaultContentType},
		{"small", 100_000, "image/png", "image/png"},
		{"one part exactly", partSize, "application/pdf", "application/pdf"},
		{"one byte past a part", partSize + 1, "video/mp4", "video/mp4"},
		{"three parts", 2*partSize + partSize/2, "application/octet-stream", "application/octet-stream"},
	}
	var keys []string
	for _, tc := range cases {
		key := "jobs/" + strings.ReplaceAll(tc.name, " ", "-") + "/payload"
		keys = append(keys, key)
		data := payload(tc.size)
		info, err := e.store.Put(ctx, key, bytes.NewReader(data), tc.contentType, 0)
		if err != nil {
			t.Fatalf("%s: Put: %v", tc.name, err)
		}
		want := blob.Info{Key: key, Size: int64(tc.size), SHA256: digest(data), ContentType: tc.wantType}
		if *info != want {
			t.Errorf("%s: Put: got %+v, want %+v", tc.name, *info, want)
		}
		got, oinfo := mustRead(t, e.store, key)
		if !bytes.Equal(got, data) {
			t.Errorf("%s: Open: %d bytes that differ from the %d put", tc.name, len(got), len(data))
		}
		if *oinfo != want {
			t.Errorf("%s: Open: got %+v, want %+v", tc.name, *oinfo, want)
		}
		if digest(got) != oinfo.SHA256 {
			t.Errorf("%s: the sha256 of Open does not match the content", tc.name)
		}
	}
	// Under the prefix, nothing else: no temporary object, no upload.
	e.assertOnly(t, keys...)

	// The metadata is the object's own, for other tools to see.
	oi, err := e.client.StatObject(ctx, e.bucket, "blobs/jobs/three-parts/payload", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if oi.ContentType != "application/octet-stream" || oi.Metadata.Get("X-Amz-Meta-Sha256") != digest(payload(2*partSize+partSize/2)) {
		t.Errorf("object metadata: %s %v", oi.ContentType, oi.Metadata)
	}

	// A second Put replaces the payload.
	if _, err := e.store.Put(ctx, "jobs/small/payload", strings.NewReader("new"), "text/plain", 0); err != nil {
		t.Fatal(err)
	}
	if got, info := mustRead(t, e.store, "jobs/small/payload"); string(got) != "new" || info.ContentType != "text/plain" || info.SHA256 != digest([]byte("new")) {
		t.Errorf("after replacing: %q %+v", got, info)
	}
}

// A payload larger than one server-side copy request takes is copied in
// ranges, and keeps its metadata.
func TestMultipartCopy(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	s3.SetCopySizes(e.store, partSize+1, partSize)
	data := payload(2*partSize + 1000)
	info, err := e.store.Put(context.Background(), "big", bytes.NewReader(data), "video/mp4", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, oinfo := mustRead(t, e.store, "big")
	if !bytes.Equal(got, data) || *oinfo != *info || info.SHA256 != digest(data) || info.ContentType != "video/mp4" {
		t.Errorf("read back %d bytes, %+v; put %+v", len(got), oinfo, info)
	}
	e.assertOnly(t, "big")
}

// The reader seeks, with ranged GETs, so http.ServeContent answers Range
// requests.
func TestSeekAndRange(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	data := payload(partSize + 1000)
	if _, err := e.store.Put(ctx, "big", bytes.NewReader(data), "", 0); err != nil {
		t.Fatal(err)
	}
	rc, info, err := e.store.Open(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rs, ok := rc.(io.ReadSeeker)
	if !ok {
		t.Fatalf("Open returned %T, not an io.ReadSeeker", rc)
	}
	read := func(off int64, whence, n int) []byte {
		t.Helper()
		if _, err := rs.Seek(off, whence); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(rs, b); err != nil {
			t.Fatalf("reading %d bytes after Seek(%d, %d): %v", n, off, whence, err)
		}
		return b
	}
	if got := read(0, io.SeekStart, 10); !bytes.Equal(got, data[:10]) {
		t.Error("the first bytes differ")
	}
	if got := read(partSize, io.SeekStart, 500); !bytes.Equal(got, data[partSize:partSize+500]) {
		t.Error("the bytes after Seek differ")
	}
	if got := read(-100, io.SeekEnd, 100); !bytes.Equal(got, data[len(data)-100:]) {
		t.Error("the last bytes differ")
	}
	if got := read(0, io.SeekStart, 5); !bytes.Equal(got, data[:5]) {
		t.Error("the bytes after seeking back to 0 differ")
	}
	if _, err := rs.Seek(int64(len(data)), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := rs.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end: %d, %v", n, err)
	}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Range", "bytes=100-199")
	rc2, _, err := e.store.Open(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	http.ServeContent(rec, req, "", time.Time{}, rc2.(io.ReadSeeker))
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[100:200]) {
		t.Errorf("Range request: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if info.Size != int64(len(data)) {
		t.Errorf("size %d", info.Size)
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	if _, err := e.store.Put(ctx, "exact", strings.NewReader("12345"), "text/plain", 5); err != nil {
		t.Fatalf("a payload of exactly the limit: %v", err)
	}
	for _, tc := range []struct {
		name  string
		size  int
		limit int64
	}{
		{"small", 6, 5},
		{"in the first part", partSize + 1, partSize / 2},
		{"in the second part", 2*partSize + 10, partSize + partSize/2},
		{"at the last byte", 3*partSize + 1, 3 * partSize},
	} {
		_, err := e.store.Put(ctx, "over", bytes.NewReader(payload(tc.size)), "", tc.limit)
		if !errors.Is(err, blob.ErrTooLarge) {
			t.Errorf("%s: got %v, want ErrTooLarge", tc.name, err)
		}
		if _, _, err := e.store.Open(ctx, "over"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("%s: Open after a refused Put: %v, want ErrNotFound", tc.name, err)
		}
	}
	e.assertOnly(t, "exact")
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
	p = p[:min(len(p), 64<<10)]
	r.n -= len(p)
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	p = p[:min(len(p), r.n)]
	r.n -= len(p)
	return len(p), nil
}

// A Put cancelled or failing mid-stream leaves nothing: no object, no
// temporary object, no incomplete multipart upload.
func TestFailedPutLeavesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	for _, n := range []int{1000, partSize + 1000, 3*partSize + 1000} {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := e.store.Put(ctx, "cancelled", &cancelReader{n: n, cancel: cancel}, "", 0)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled after %d bytes: got %v, want context.Canceled", n, err)
		}
		_, err = e.store.Put(context.Background(), "failed", &errReader{n: n}, "", 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reader failing after %d bytes: got %v, want its error", n, err)
		}
	}
	// A context that ends while the parts upload.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.store.Put(ctx, "deadline", io.LimitReader(infinite{}, 1<<30), "", 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: got %v", err)
	}
	e.assertOnly(t)
}

// infinite yields zeros.
type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// generator yields n pseudo-random bytes, hashing them, and samples the
// live heap as it goes.
type generator struct {
	left     int64
	state    uint64
	sum      hashWriter
	peakHeap uint64
	next     int64 // when to sample next, in bytes left
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left, 256<<10)]
	for i := range p {
		g.state = g.state*6364136223846793005 + 1442695040888963407
		p[i] = byte(g.state >> 56)
	}
	g.sum.Write(p)
	g.left -= int64(len(p))
	if g.left <= g.next {
		g.next -= 4 << 20
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g.peakHeap = max(g.peakHeap, ms.HeapAlloc)
	}
	return len(p), nil
}

// A 64 MiB payload from a reader streams through buffers of PartSize: the
// live heap never grows by more than a few parts. Not parallel, so that
// no other test's memory counts.
func TestPutStreamsWithBoundedMemory(t *testing.T) {
	e := setup(t, &s3.Options{PartSize: 8 << 20, Concurrency: 2})
	const size = 64 << 20
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g := &generator{left: size, state: 42, sum: sha256.New(), next: size}
	info, err := e.store.Put(context.Background(), "stream", g, "application/octet-stream", 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size || info.SHA256 != hex.EncodeToString(g.sum.Sum(nil)) {
		t.Fatalf("Put: %+v", info)
	}
	grew := int64(g.peakHeap) - int64(before.HeapAlloc)
	// Concurrency+1 buffers of 8 MiB, and some room for the client.
	const bound = (2+1)*(8<<20) + 8<<20
	t.Logf("live heap grew by %.1f MiB while streaming %d MiB", float64(grew)/(1<<20), size>>20)
	if grew > bound {
		t.Errorf("the live heap grew by %d bytes, more than %d", grew, bound)
	}
	rc, oinfo, err := e.store.Open(context.Background(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != info.SHA256 || oinfo.SHA256 != info.SHA256 {
		t.Errorf("reading back: %d bytes, %v, %+v", n, err, oinfo)
	}
	e.assertOnly(t, "stream")
}

func TestOpenMissing(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	if _, err := e.store.Put(ctx, "dir/file", strings.NewReader("x"), "", 0); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"missing", "dir/missing", "dir"} {
		if _, _, err := e.store.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open(%q): %v, want ErrNotFound", key, err)
		}
	}
}

func TestDeleteIsIdempotent(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	if err := e.store.Delete(ctx, "never-was"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if _, err := e.store.Put(ctx, "k", strings.NewReader("x"), "", 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.store.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.store.Open(ctx, "k"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open after Delete: %v", err)
	}
	e.assertOnly(t)
}

func TestConcurrentPuts(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	sizes := func(i int) int { return 1000 + (i%2)*(partSize+1000*i) } // half of them multipart
	for i := range n {
		wg.Go(func() {
			data := payload(sizes(i))
			data[0] = byte(i)
			if _, err := e.store.Put(ctx, fmt.Sprintf("own/%d", i), bytes.NewReader(data), "", 0); err != nil {
				errs <- err
			}
		})
		wg.Go(func() { // all on one key: the last one wins, whole
			data := payload(sizes(i))
			data[0] = byte(i)
			if _, err := e.store.Put(ctx, "shared", bytes.NewReader(data), "", 0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := []string{"shared"}
	for i := range n {
		got, _ := mustRead(t, e.store, fmt.Sprintf("own/%d", i))
		data := payload(sizes(i))
		data[0] = byte(i)
		if !bytes.Equal(got, data) {
			t.Errorf("own/%d differs", i)
		}
		want = append(want, fmt.Sprintf("own/%d", i))
	}
	got, info := mustRead(t, e.store, "shared")
	if len(got) == 0 || int(got[0]) >= n {
		t.Fatalf("shared: %d bytes", len(got))
	}
	data := payload(sizes(int(got[0])))
	data[0] = got[0]
	if !bytes.Equal(got, data) || info.SHA256 != digest(got) {
		t.Errorf("shared is not one whole payload (%d bytes, writer %d)", len(got), got[0])
	}
	e.assertOnly(t, want...)
}

func TestPrefixAndKeys(t *testing.T) {
	t.Parallel()
	// 1,019 bytes: too long with the prefix "blobs/", fine without. (File
	// systems limit a name to 255 bytes, so versitygw does a segment.)
	longKey := strings.Join([]string{strings.Repeat("a", 254), strings.Repeat("b", 254), strings.Repeat("c", 254), strings.Repeat("d", 254)}, "/")
	e := setup(t, nil)
	ctx := context.Background()
	root := e.open(t, e.srv.URL(e.bucket, ""), nil)
	deep := e.open(t, e.srv.URL(e.bucket, "a/b/"), nil)
	if _, err := deep.Put(ctx, "k", strings.NewReader("deep"), "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Put(ctx, "k", strings.NewReader("blobs"), "", 0); err != nil {
		t.Fatal(err)
	}
	if got := e.objects(t); !slices.Equal(got, []string{"a/b/k", "blobs/k"}) {
		t.Errorf("objects: %q", got)
	}
	if got, _ := mustRead(t, root, "a/b/k"); string(got) != "deep" {
		t.Errorf("a/b/k through the store without prefix: %q", got)
	}
	if got, _ := mustRead(t, root, "blobs/k"); string(got) != "blobs" {
		t.Errorf("blobs/k through the store without prefix: %q", got)
	}

	for _, key := range []string{"", "/abs", "a//b", "../x", "a/./b", "a\\b", "a\x00b", ".gantry-tmp/x", ".gantry-tmp", longKey} {
		if _, err := e.store.Put(ctx, key, strings.NewReader("x"), "", 0); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if _, _, err := e.store.Open(ctx, key); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open(%q): %v, want a key error", key, err)
		}
		if err := e.store.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded", key)
		}
	}
	if _, err := root.Put(ctx, longKey, strings.NewReader("x"), "", 0); err != nil {
		t.Errorf("a key of %d bytes without prefix: %v", len(longKey), err)
	}
}

// recorder notes the host and path of every request.
type recorder struct {
	rt   http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.URL.Host+req.URL.Path)
	r.mu.Unlock()
	return r.rt.RoundTrip(req)
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// Path-style requests name the bucket in the path; virtual-host ones in
// the host name (bucket.localhost, which the transport sends to the
// server).
func TestAddressing(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	port := e.srv.Endpoint[strings.LastIndex(e.srv.Endpoint, ":")+1:]
	for _, tc := range []struct {
		name, url, wantPrefix string
	}{
		{"path", "s3://" + e.bucket + "/p?path_style=true&endpoint=" + e.srv.Endpoint,
			"127.0.0.1:" + port + "/" + e.bucket + "/p/"},
		{"auto is path for an IP address", "s3://" + e.bucket + "/p?endpoint=" + e.srv.Endpoint,
			"127.0.0.1:" + port + "/" + e.bucket + "/p/"},
		{"virtual host", "s3://" + e.bucket + "/p?path_style=false&endpoint=http://localhost:" + port,
			e.bucket + ".localhost:" + port + "/p/"},
	} {
		tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, "127.0.0.1:"+port)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		rec := &recorder{rt: tr}
		s := e.open(t, tc.url, &s3.Options{Transport: rec})
		ctx := context.Background()
		if _, err := s.Put(ctx, tc.name, strings.NewReader(tc.name), "", 0); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got, _ := mustRead(t, s, tc.name); string(got) != tc.name {
			t.Errorf("%s: read %q", tc.name, got)
		}
		want := tc.wantPrefix + tc.name
		if reqs := rec.requests(); !slices.Contains(reqs, want) {
			t.Errorf("%s: no request to %s among %q", tc.name, want, reqs)
		}
	}
}

// Settings come from the environment when neither the URL nor Options
// give them.
func TestSettingsFromEnvironment(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	environ := e.srv.Env()
	s, err := s3.Open(context.Background(), "s3://"+e.bucket+"/env", &s3.Options{Getenv: func(k string) string { return environ[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(context.Background(), "k", strings.NewReader("x"), "", 0); err != nil {
		t.Fatal(err)
	}
	if want := (&s3.Location{Bucket: e.bucket, Prefix: "env/", Endpoint: e.srv.Endpoint, Region: s3test.Region}).String(); s.String() != want {
		t.Errorf("String() = %s, want %s", s.String(), want)
	}
	// The URL overrides the environment.
	environ["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:1"
	s2, err := s3.Open(context.Background(), e.srv.URL(e.bucket, "env"), &s3.Options{Getenv: func(k string) string { return environ[k] }})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func TestOpenFailsFast(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	creds := &s3.Options{AccessKeyID: s3test.AccessKeyID, SecretAccessKey: s3test.SecretAccessKey, Getenv: func(string) string { return "" }}
	for _, tc := range []struct {
		name, url string
		opts      *s3.Options
		want      string
	}{
		{"no bucket", e.srv.URL("no-such-bucket", ""), creds, `bucket "no-such-bucket"`},
		{"bad secret", e.srv.URL(e.bucket, ""), &s3.Options{AccessKeyID: s3test.AccessKeyID, SecretAccessKey: "wrong", Getenv: creds.Getenv}, "access denied"},
		{"half the credentials", e.srv.URL(e.bucket, ""), &s3.Options{AccessKeyID: "x", Getenv: creds.Getenv}, "secret access key"},
		{"part size", e.srv.URL(e.bucket, ""), &s3.Options{PartSize: 1 << 20, Getenv: creds.Getenv}, "part size"},
		{"nothing listening", "s3://" + e.bucket + "?endpoint=http://127.0.0.1:1", creds, "at http://127.0.0.1:1: "},
		{"bad URL", "s3://" + e.bucket + "?foo=bar", creds, "unknown parameter"},
	} {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second) // the client retries a refused connection
		s, err := s3.Open(ctx, tc.url, tc.opts)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if !strings.Contains(strings.ToLower(err.Error()), tc.want) {
			t.Errorf("%s: %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.store.Close()
	ctx := context.Background()
	if _, err := e.store.Put(ctx, "k", strings.NewReader("x"), "", 0); !errors.Is(err, s3.ErrClosed) {
		t.Errorf("Put: %v", err)
	}
	if _, _, err := e.store.Open(ctx, "k"); !errors.Is(err, s3.ErrClosed) {
		t.Errorf("Open: %v", err)
	}
	if err := e.store.Delete(ctx, "k"); !errors.Is(err, s3.ErrClosed) {
		t.Errorf("Delete: %v", err)
	}
}

// TestList: List finds the payloads under a prefix stored within the
// window, with their keys (without the store's prefix), sizes and times,
// and never a temporary object.
func TestList(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := t.Context()
	for _, k := range []string{"uploads/a", "uploads/b", "other/c"} {
		if _, err := e.store.Put(ctx, k, strings.NewReader(k), "", 0); err != nil {
			t.Fatal(err)
		}
	}
	// A temporary object a crashed multipart Put left behind.
	if _, err := e.client.PutObject(ctx, e.bucket, "blobs/"+s3.TempPrefix+"crashed", strings.NewReader("x"), 1, "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	list := func(p *blob.ListParams) map[string]int64 { return blobtest.Listed(ctx, t, e.store, p) }
	if got := list(&blob.ListParams{Prefix: "uploads/"}); len(got) != 2 || got["uploads/a"] != 9 || got["uploads/b"] != 9 {
		t.Errorf("List uploads/ = %v", got)
	}
	if got := list(nil); len(got) != 3 || got["other/c"] != 7 {
		t.Errorf("List = %v, want the three payloads", got)
	}
	if got := list(&blob.ListParams{StoredBefore: time.Now().Add(-time.Hour)}); len(got) != 0 {
		t.Errorf("List stored before an hour ago = %v, want none", got)
	}
}
