package httpapi_test

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/tmpfs"
)

// TestDiskFullIs507 fills the filesystem under the store and the blob
// store (a small tmpfs): uploads and enqueues answer 507
// insufficient_storage with Retry-After 30 and a detail a person can act
// on, never 202 and never 503; /healthz stays 200 while /readyz says 503;
// once space is freed the server serves again by itself, with every job it
// accepted.
func TestDiskFullIs507(t *testing.T) {
	fs := tmpfs.Mount(t, 24<<20)
	e := setup(t, &options{dir: fs})
	first := e.enqueue(`{"kind":"k"}`)
	ballast := tmpfs.Fill(t, fs, 1<<40)

	want507 := func(what string, resp *response) {
		t.Helper()
		if resp.StatusCode != http.StatusInsufficientStorage {
			t.Fatalf("%s on a full disk: status %d, want 507: %s", what, resp.StatusCode, resp.body)
		}
		p := resp.problem(t)
		if p.Code != httpapi.CodeInsufficientStorage || resp.Header.Get("Retry-After") != "30" ||
			!strings.Contains(p.Detail, "disk is full") {
			t.Fatalf("%s on a full disk: code %q, Retry-After %q, detail %q", what, p.Code, resp.Header.Get("Retry-After"), p.Detail)
		}
	}
	// The blob store.
	want507("upload", e.do(req{method: "POST", path: "/v1/jobs?kind=k", body: bytes.NewReader(make([]byte, 1<<20)),
		header: map[string]string{"Content-Type": "application/octet-stream"}}))

	// The store: what fits in the WAL's last block may still be accepted;
	// from the first refusal on, every enqueue is refused.
	body := `{"kind":"k","args":{"pad":"` + strings.Repeat("x", 8000) + `"}}`
	accepted := []string{first.ID}
	refused := 0
	for i := 0; i < 2000 && refused < 5; i++ {
		resp := e.do(req{method: "POST", path: "/v1/jobs", body: body})
		if resp.StatusCode == http.StatusAccepted && refused == 0 {
			var j httpapi.JobResource
			resp.decode(t, &j)
			accepted = append(accepted, j.ID)
			continue
		}
		want507("enqueue", resp)
		refused++
	}
	if refused == 0 {
		t.Fatal("the store accepted every enqueue on a full disk")
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
	e.expect(http.StatusServiceUnavailable, req{method: "GET", path: "/readyz"})

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := e.do(req{method: "POST", path: "/v1/jobs", body: `{"kind":"k"}`})
		if resp.StatusCode == http.StatusAccepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after space was freed: status %d: %s", resp.StatusCode, resp.body)
		}
		time.Sleep(20 * time.Millisecond) // the store retries on its own schedule
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/readyz"})
	for _, id := range accepted {
		e.job(id)
	}
}
