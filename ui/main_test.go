package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
	"github.com/gantry-dev/gantry/ui"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on a successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Prefix is where the tests mount the dashboard: deeper than /ui/, to
// check that the page works under any prefix.
const prefix = "/ops/gantry/ui/"

// Tokens of the servers that setup starts with tokens.
const (
	readToken    = "read-token"
	adminToken   = "admin-token"
	enqueueToken = "enqueue-token"
	workToken    = "work-token"
)

// env is one test's server: an embedded store in a temp dir, a client
// (that runs no handler: tests lease jobs with Workers to control them),
// the API at / and the dashboard under prefix.
type env struct {
	t      *testing.T
	url    string // the server's root, without a slash at the end
	client *gantry.Client
	api    *httpapi.Server
	driver store.Driver
	store  *embedded.Store // the driver, when it is the embedded store
}

type options struct {
	tokens     bool
	maxStreams int
	// driver, when set, is the store instead of an embedded store in a
	// temporary directory; the test closes it.
	driver store.Driver
	// push is the dashboard's Config.PushTargets.
	push func() []ui.PushTarget
}

func setup(t *testing.T, o *options) *env {
	t.Helper()
	t.Parallel()
	if o == nil {
		o = &options{}
	}
	var st store.Driver = o.driver
	if st == nil {
		emb, err := embedded.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		st = emb
	}
	c, err := gantry.NewClient(st, &gantry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &httpapi.Config{Client: c, MaxStreams: o.maxStreams}
	if o.tokens {
		cfg.Tokens = []httpapi.Token{
			{Value: readToken, Scopes: []httpapi.Scope{httpapi.ScopeRead}},
			{Value: adminToken, Scopes: []httpapi.Scope{httpapi.ScopeAdmin}},
			{Value: enqueueToken, Scopes: []httpapi.Scope{httpapi.ScopeEnqueue, httpapi.ScopeRead}},
			{Value: workToken, Scopes: []httpapi.Scope{httpapi.ScopeWork}},
		}
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := ui.New(&ui.Config{API: api, Client: c, PushTargets: o.push})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(prefix, http.StripPrefix(strings.TrimSuffix(prefix, "/"), dash))
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		api.Drain()
		srv.Close()
		dash.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop client: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	e := &env{t: t, url: srv.URL, client: c, api: api, driver: st}
	e.store, _ = st.(*embedded.Store)
	return e
}

// do sends a request to path (below the server's root) with token, if
// any, and returns the answer read whole.
func (e *env) do(method, path, token, body string, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, b
}

// demoArgs is the kind the tests enqueue.
type demoArgs struct {
	N int `json:"n"`
}

func (demoArgs) Kind() string { return "demo" }

// enqueue adds a demo job and returns its id.
func (e *env) enqueue(n int) string {
	e.t.Helper()
	res, err := e.client.Enqueue(context.Background(), demoArgs{N: n}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Job.ID
}

// lease leases the one available job and returns it with its token.
func (e *env) lease() *gantry.Job {
	e.t.Helper()
	jobs, err := e.client.Workers().Lease(context.Background(), &gantry.LeaseParams{Max: 1, LeaseFor: time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(jobs) != 1 {
		e.t.Fatalf("leased %d jobs, want 1", len(jobs))
	}
	return jobs[0]
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}
