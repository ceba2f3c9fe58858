package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob/fs"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

// TestMain runs the tests, then fails the run if a goroutine leaked or if
// too few answers were validated against the OpenAPI document.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on a successful test run: %v\n", err)
			code = 1
		}
	}
	if code == 0 {
		if err := checkValidatedResponses(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// env is one test's server: a real embedded store in a temp dir, a real
// client, a blob store, and the API on a loopback listener.
type env struct {
	t      *testing.T
	url    string
	api    *httpapi.Server
	client *gantry.Client
	store  *embedded.Store
	blobs  *fs.Store
	http   *http.Client
	clock  *clock
	token  string // sent as the bearer token when not empty
}

// options change what setup builds.
type options struct {
	cfg     func(*httpapi.Config)
	client  *gantry.Config
	noBlobs bool
	// wrap, when set, wraps the store that the client is given.
	wrap func(store.Driver) store.Driver
	// dir, when set, holds the store and the blob store instead of a
	// temporary directory.
	dir string
}

// clock is the server's and the client's time: time.Now plus an offset
// that tests move forward by hand, so that leases expire and retries come
// due without waiting.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// setup starts a server for the test, marks the test parallel and stops
// everything at its end.
func setup(t *testing.T, o *options) *env {
	t.Helper()
	t.Parallel()
	if o == nil {
		o = &options{}
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := embedded.Open(dir+"/data", nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	ccfg := o.client
	if ccfg == nil {
		ccfg = &gantry.Config{}
	}
	ccfg.Test.Clock = clk
	var d store.Driver = st
	if o.wrap != nil {
		d = o.wrap(st)
	}
	c, err := gantry.NewClient(d, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if ccfg.Registry != nil {
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &httpapi.Config{Client: c, Now: clk.Now}
	var blobs *fs.Store
	if !o.noBlobs {
		if blobs, err = fs.Open(dir + "/blobs"); err != nil {
			t.Fatal(err)
		}
		cfg.Blobs = blobs
	}
	if o.cfg != nil {
		o.cfg(cfg)
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	// Every answer the test receives is checked against the OpenAPI
	// document (openapi_validate_test.go).
	hc := &http.Client{Transport: &validatingTransport{t: t, base: srv.Client().Transport}}
	e := &env{t: t, url: srv.URL, api: api, client: c, store: st, blobs: blobs, http: hc, clock: clk}
	t.Cleanup(func() {
		api.Drain()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop client: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
		if blobs != nil {
			_ = blobs.Close()
		}
	})
	return e
}

// response is an answer, read whole.
type response struct {
	*http.Response
	body []byte
}

// problem decodes the answer as a problem, checking its media type and
// its required members.
func (r *response) problem(t *testing.T) httpapi.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %s: Content-Type %q, want application/problem+json; body %s", r.Request.Method, r.Request.URL.Path, ct, r.body)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem does not decode: %v: %s", err, r.body)
	}
	if p.Status != r.StatusCode || p.Code == "" || p.Type != httpapi.ProblemTypeBase+p.Code || p.Title == "" || p.Detail == "" {
		t.Fatalf("incomplete problem for status %d: %s", r.StatusCode, r.body)
	}
	return p
}

// decode decodes the answer's JSON body into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s %s: body does not decode into %T: %v: %s", r.Request.Method, r.Request.URL.Path, v, err, r.body)
	}
}

// req is a request to send: body is a string, []byte, io.Reader, or any
// other value encoded as JSON; nil is no body.
type req struct {
	method, path string
	body         any
	header       map[string]string
}

func (e *env) do(r req) *response {
	e.t.Helper()
	var body io.Reader
	contentType := ""
	switch b := r.body.(type) {
	case nil:
	case string:
		body, contentType = strings.NewReader(b), "application/json"
	case []byte:
		body, contentType = bytes.NewReader(b), "application/json"
	case io.Reader:
		body = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body, contentType = bytes.NewReader(data), "application/json"
	}
	hr, err := http.NewRequest(r.method, e.url+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	if e.token != "" {
		hr.Header.Set("Authorization", "Bearer "+e.token)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := e.http.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", r.method, r.path, err)
	}
	return &response{Response: resp, body: data}
}

// expect sends r and fails the test unless the answer has status.
func (e *env) expect(status int, r req) *response {
	e.t.Helper()
	resp := e.do(r)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, resp.StatusCode, status, resp.body)
	}
	return resp
}

// enqueue posts a job and returns the answer's job.
func (e *env) enqueue(body any) *httpapi.JobResource {
	e.t.Helper()
	var j httpapi.JobResource
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: body}).decode(e.t, &j)
	return &j
}

// lease leases up to max jobs of queue.
func (e *env) lease(queue string, body any) []*httpapi.LeasedJob {
	e.t.Helper()
	var out httpapi.LeaseResponse
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/" + queue + "/lease", body: body}).decode(e.t, &out)
	return out.Jobs
}

// leaseOne leases exactly one job of queue default.
func (e *env) leaseOne() *httpapi.LeasedJob {
	e.t.Helper()
	jobs := e.lease("default", map[string]any{"max": 1})
	if len(jobs) != 1 {
		e.t.Fatalf("leased %d jobs, want 1", len(jobs))
	}
	return jobs[0]
}

// job reads a job through the API.
func (e *env) job(id string) *httpapi.JobResource {
	e.t.Helper()
	var j httpapi.JobResource
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs/" + id}).decode(e.t, &j)
	return &j
}
