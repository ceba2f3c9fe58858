package httpapi_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
)

// upload posts data as a binary payload.
func (e *env) upload(query, contentType string, body io.Reader, header map[string]string) *response {
	e.t.Helper()
	h := map[string]string{"Content-Type": contentType}
	for k, v := range header {
		h[k] = v
	}
	return e.do(req{method: "POST", path: "/v1/jobs?" + query, body: body, header: h})
}

// chunked hides a reader's length, so that the request has no
// Content-Length.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

// blobFiles counts the payload files in the blob store's directory (not
// its metadata, nor its lock file).
func (e *env) blobFiles() int {
	e.t.Helper()
	n := 0
	err := filepath.WalkDir(e.blobs.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(path, ".meta") && d.Name() != "LOCK" {
			n++
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestBlobRoundTrip(t *testing.T) {
	e := setup(t, nil)
	data := make([]byte, 300<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])

	resp := e.upload("kind=thumbnail&queue=images&priority=3&args=%7B%22w%22%3A256%7D&max_attempts=4", "image/png", bytes.NewReader(data), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.body)
	}
	var j httpapi.JobResource
	resp.decode(t, &j)
	if j.Kind != "thumbnail" || j.Queue != "images" || j.Priority != 3 || j.MaxAttempts != 4 || string(j.Args) != `{"w":256}` {
		t.Errorf("job = %+v", j)
	}
	if j.Blob == nil || j.Blob.Size != int64(len(data)) || j.Blob.SHA256 != digest || j.Blob.ContentType != "image/png" {
		t.Fatalf("blob = %+v, want size %d sha256 %s", j.Blob, len(data), digest)
	}
	if strings.Contains(string(resp.body), "uploads/") {
		t.Errorf("the answer shows the blob key: %s", resp.body)
	}

	got := e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs/" + j.ID + "/blob"})
	if s := sha256.Sum256(got.body); s != sum {
		t.Fatalf("downloaded %d bytes with another digest", len(got.body))
	}
	if got.Header.Get("Content-Type") != "image/png" || got.Header.Get("ETag") != `"`+digest+`"` ||
		got.ContentLength != int64(len(data)) || got.Header.Get("Content-Disposition") != "attachment" {
		t.Errorf("headers = %v", got.Header)
	}
	part := e.expect(http.StatusPartialContent, req{method: "GET", path: "/v1/jobs/" + j.ID + "/blob", header: map[string]string{"Range": "bytes=10-19"}})
	if !bytes.Equal(part.body, data[10:20]) {
		t.Errorf("range = %x, want %x", part.body, data[10:20])
	}
	e.expect(http.StatusNotModified, req{method: "GET", path: "/v1/jobs/" + j.ID + "/blob", header: map[string]string{"If-None-Match": `"` + digest + `"`}})
	unsatisfiable := e.expect(http.StatusRequestedRangeNotSatisfiable, req{method: "GET", path: "/v1/jobs/" + j.ID + "/blob", header: map[string]string{"Range": "bytes=999999999-"}})
	// A payload is the caller's data: no cache keeps it, whatever the answer.
	for _, r := range []*response{got, part, unsatisfiable} {
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%d answer: Cache-Control %q, want no-store", r.StatusCode, cc)
		}
	}

	// Without a length (chunked) works too.
	resp = e.upload("kind=k", "application/octet-stream", chunked{bytes.NewReader(data[:1000])}, nil)
	resp.decode(t, &j)
	if resp.StatusCode != http.StatusAccepted || j.Blob == nil || j.Blob.Size != 1000 {
		t.Errorf("chunked upload: %d %s", resp.StatusCode, resp.body)
	}

	// A job without a payload has no blob.
	plain := e.enqueue(`{"kind":"k"}`)
	e.expect(http.StatusNotFound, req{method: "GET", path: "/v1/jobs/" + plain.ID + "/blob"}).problem(t)
}

func TestBlobTooLarge(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.MaxBlobBody = 1024 }})
	big := bytes.Repeat([]byte("x"), 4096)
	for name, body := range map[string]io.Reader{"with a length": bytes.NewReader(big), "chunked": chunked{bytes.NewReader(big)}} {
		resp := e.upload("kind=k", "application/octet-stream", body, nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: status %d: %s", name, resp.StatusCode, resp.body)
		}
		if p := resp.problem(t); p.Code != httpapi.CodeBodyTooLarge {
			t.Errorf("%s: %+v", name, p)
		}
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d payload files left behind by refused uploads", n)
	}
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs?kind=k", body: bytes.NewReader(big[:1024]),
		header: map[string]string{"Content-Type": "application/octet-stream"}})
}

func TestBlobIdempotencyAndDuplicates(t *testing.T) {
	e := setup(t, nil)
	key := map[string]string{httpapi.HeaderIdempotencyKey: "upload-1"}
	first := e.upload("kind=k", "image/jpeg", strings.NewReader("payload one"), key)
	again := e.upload("kind=k", "image/jpeg", strings.NewReader("payload one"), key)
	if first.StatusCode != http.StatusAccepted || again.StatusCode != http.StatusAccepted || again.Header.Get(httpapi.HeaderReplayed) != "true" {
		t.Fatalf("first %d, repeat %d %q: %s", first.StatusCode, again.StatusCode, again.Header.Get(httpapi.HeaderReplayed), again.body)
	}
	var a, b httpapi.JobResource
	first.decode(t, &a)
	again.decode(t, &b)
	if a.ID != b.ID {
		t.Errorf("repeat answered %s, want %s", b.ID, a.ID)
	}
	conflict := e.upload("kind=k", "image/jpeg", strings.NewReader("payload two"), key)
	if conflict.StatusCode != http.StatusConflict || conflict.problem(t).Code != httpapi.CodeIdempotencyConflict {
		t.Errorf("other payload, same key: %d %s", conflict.StatusCode, conflict.body)
	}
	// A unique_key duplicate keeps the first payload.
	e.upload("kind=k&unique_key=u", "image/jpeg", strings.NewReader("first"), nil)
	dup := e.upload("kind=k&unique_key=u", "image/jpeg", strings.NewReader("second"), nil)
	if dup.Header.Get(httpapi.HeaderDuplicate) != "true" {
		t.Errorf("duplicate upload: %s", dup.body)
	}
	// The repeated, conflicting and duplicate uploads were deleted.
	if n := e.blobFiles(); n != 2 {
		t.Errorf("%d payload files, want 2", n)
	}
}

func TestBlobRequestsRefused(t *testing.T) {
	e := setup(t, nil)
	for _, tc := range []struct {
		query, contentType string
		status             int
		code, field        string
	}{
		{"kind=k&colour=red", "image/png", 400, httpapi.CodeUnknownField, "colour"},
		{"queue=q", "image/png", 422, httpapi.CodeInvalidField, "kind"},
		{"kind=k&priority=high", "image/png", 400, httpapi.CodeInvalidField, "priority"},
		{"kind=k&delay=later", "image/png", 400, httpapi.CodeInvalidField, "delay"},
		{"kind=k&args=%5B1%5D", "image/png", 422, httpapi.CodeInvalidField, "args"},
		{"kind=k&args=%7B", "image/png", 400, httpapi.CodeInvalidField, "args"},
		{"kind=k&kind=j", "image/png", 400, httpapi.CodeInvalidField, "kind"},
		{"kind=k", "application/x-www-form-urlencoded", 415, httpapi.CodeUnsupportedMediaType, ""},
		{"kind=k", "multipart/form-data; boundary=x", 415, httpapi.CodeUnsupportedMediaType, ""},
		{"kind=k", "image/png; ===", 415, httpapi.CodeUnsupportedMediaType, ""},
		{"kind=k", "application/json", 400, httpapi.CodeUnknownField, "kind"},
	} {
		resp := e.upload(tc.query, tc.contentType, strings.NewReader("data"), nil)
		if resp.StatusCode != tc.status {
			t.Errorf("?%s (%s): status %d, want %d: %s", tc.query, tc.contentType, resp.StatusCode, tc.status, resp.body)
			continue
		}
		if p := resp.problem(t); p.Code != tc.code || p.Field != tc.field {
			t.Errorf("?%s (%s): code %q field %q, want %q %q", tc.query, tc.contentType, p.Code, p.Field, tc.code, tc.field)
		}
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d payload files left by refused uploads", n)
	}
}

func TestFormBodiesSuggestJSON(t *testing.T) {
	e := setup(t, nil)
	// curl -d '{"kind":"k"}' sends a form content type.
	for _, path := range []string{"/v1/jobs", "/v1/jobs/batch", "/v1/queues/default/lease"} {
		resp := e.do(req{method: "POST", path: path, body: strings.NewReader(`{"kind":"k"}`),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, resp.body)
		}
		if p := resp.problem(t); p.Code != httpapi.CodeUnsupportedMediaType || !strings.Contains(p.Detail, "--json") {
			t.Errorf("%s: %+v", path, p)
		}
	}
}

func TestBinaryEnqueueWithoutBlobStore(t *testing.T) {
	e := setup(t, &options{noBlobs: true})
	resp := e.upload("kind=k", "image/png", strings.NewReader("data"), nil)
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.body)
	}
	if p := resp.problem(t); !strings.Contains(p.Detail, "no blob store") {
		t.Errorf("detail = %q", p.Detail)
	}
	e.enqueue(`{"kind":"k"}`)
}
