package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store/embedded"
)

func TestNewChecksTheConfig(t *testing.T) {
	t.Parallel()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := gantry.NewClient(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*httpapi.Config{
		"nil":                   nil,
		"no client":             {},
		"negative MaxPending":   {Client: c, MaxPending: -1},
		"bad queue name":        {Client: c, MaxPendingPerQueue: map[string]int{"a b": 1}},
		"negative queue limit":  {Client: c, MaxPendingPerQueue: map[string]int{"q": -1}},
		"negative body limit":   {Client: c, MaxJSONBody: -1},
		"negative blob limit":   {Client: c, MaxBlobBody: -1},
		"bad kind":              {Client: c, DeclaredKinds: []string{""}},
		"bad trusted origin":    {Client: c, TrustedOrigins: []string{"not a url"}},
		"empty token":           {Client: c, Tokens: []httpapi.Token{{Scopes: []httpapi.Scope{httpapi.ScopeRead}}}},
		"token without scopes":  {Client: c, Tokens: []httpapi.Token{{Value: "t"}}},
		"unknown scope":         {Client: c, Tokens: []httpapi.Token{{Value: "t", Scopes: []httpapi.Scope{"root"}}}},
		"token with whitespace": {Client: c, Tokens: []httpapi.Token{{Value: "a b", Scopes: []httpapi.Scope{httpapi.ScopeRead}}}},
	} {
		if _, err := httpapi.New(cfg); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
	if _, err := httpapi.New(&httpapi.Config{Client: c}); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestAuthScopes(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) {
		c.Tokens = []httpapi.Token{
			{Value: "admin-token", Scopes: []httpapi.Scope{httpapi.ScopeAdmin}},
			{Value: "enqueue-token", Scopes: []httpapi.Scope{httpapi.ScopeEnqueue}},
			{Value: "read-token", Scopes: []httpapi.Scope{httpapi.ScopeRead}},
			{Value: "work-token", Scopes: []httpapi.Scope{httpapi.ScopeWork, httpapi.ScopeRead}},
		}
	}})
	e.token = "admin-token"
	j := e.enqueue(`{"kind":"k"}`)
	routes := []struct {
		method, path, body string
		scope              httpapi.Scope
	}{
		{"POST", "/v1/jobs", `{"kind":"k"}`, httpapi.ScopeEnqueue},
		{"POST", "/v1/jobs/batch", `{"jobs":[{"kind":"k"}]}`, httpapi.ScopeEnqueue},
		{"GET", "/v1/jobs", "", httpapi.ScopeRead},
		{"GET", "/v1/jobs/" + j.ID, "", httpapi.ScopeRead},
		{"GET", "/v1/jobs/" + j.ID + "/blob", "", httpapi.ScopeRead},
		{"GET", "/v1/queues", "", httpapi.ScopeRead},
		{"POST", "/v1/queues/q/lease", `{}`, httpapi.ScopeWork},
		{"POST", "/v1/jobs/" + j.ID + "/heartbeat", `{"lease_token":"1.x"}`, httpapi.ScopeWork},
		{"POST", "/v1/jobs/" + j.ID + "/complete", `{"lease_token":"1.x"}`, httpapi.ScopeWork},
		{"POST", "/v1/jobs/" + j.ID + "/fail", `{"lease_token":"1.x"}`, httpapi.ScopeWork},
		{"POST", "/v1/queues/q/pause", "", httpapi.ScopeAdmin},
		{"POST", "/v1/queues/q/resume", "", httpapi.ScopeAdmin},
		{"PUT", "/v1/queues/q/limits", `{"rate":"5/s"}`, httpapi.ScopeAdmin},
		{"POST", "/v1/jobs/" + j.ID + "/retry", "", httpapi.ScopeAdmin},
		{"POST", "/v1/jobs/" + j.ID + "/cancel", "", httpapi.ScopeAdmin},
	}
	grants := map[string][]httpapi.Scope{
		"admin-token":   {httpapi.ScopeAdmin, httpapi.ScopeEnqueue, httpapi.ScopeRead, httpapi.ScopeWork},
		"enqueue-token": {httpapi.ScopeEnqueue},
		"read-token":    {httpapi.ScopeRead},
		"work-token":    {httpapi.ScopeWork, httpapi.ScopeRead},
	}
	send := func(token string, r struct {
		method, path, body string
		scope              httpapi.Scope
	}) *response {
		t.Helper()
		e.token = token
		var body any
		if r.body != "" {
			body = r.body
		}
		return e.do(req{method: r.method, path: r.path, body: body})
	}
	for _, r := range routes {
		for _, bad := range []string{"", "wrong-token", "admin-token-but-longer"} {
			resp := send(bad, r)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: status %d, want 401", r.method, r.path, bad, resp.StatusCode)
				continue
			}
			if p := resp.problem(t); p.Code != httpapi.CodeUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: %+v, WWW-Authenticate %q", r.method, r.path, p, resp.Header.Get("WWW-Authenticate"))
			}
		}
		for token, scopes := range grants {
			allowed := false
			for _, s := range scopes {
				allowed = allowed || s == r.scope
			}
			resp := send(token, r)
			switch {
			case allowed && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
				t.Errorf("%s %s with %s: status %d: %s", r.method, r.path, token, resp.StatusCode, resp.body)
			case !allowed && resp.StatusCode != http.StatusForbidden:
				t.Errorf("%s %s with %s: status %d, want 403", r.method, r.path, token, resp.StatusCode)
			case !allowed && resp.problem(t).Code != httpapi.CodeForbidden:
				t.Errorf("%s %s with %s: %s", r.method, r.path, token, resp.body)
			}
		}
	}
	// Another scheme is no token; health checks are open.
	e.token = ""
	e.expect(http.StatusUnauthorized, req{method: "GET", path: "/v1/queues", header: map[string]string{"Authorization": "Basic YWRtaW4tdG9rZW46"}})
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/queues", header: map[string]string{"Authorization": "bearer read-token"}})
	e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
	e.expect(http.StatusOK, req{method: "GET", path: "/readyz"})
}

func TestCrossOriginRequestsAreRefused(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.TrustedOrigins = []string{"https://ops.example.com"} }})
	j := e.enqueue(`{"kind":"k"}`)
	// A page on another site posting a "simple" request.
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
		{"Origin": "https://evil.example", "Content-Type": "text/plain"},
	} {
		p := e.expect(http.StatusForbidden, req{method: "POST", path: "/v1/jobs/" + j.ID + "/cancel", header: h}).problem(t)
		if p.Code != httpapi.CodeForbidden {
			t.Errorf("%v: %+v", h, p)
		}
	}
	// Reads, same-origin requests, trusted origins and programs pass.
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs/" + j.ID, header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k"}`, header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k"}`, header: map[string]string{"Origin": "https://ops.example.com"}})
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/cancel"})
}

func TestDrain(t *testing.T) {
	e := setup(t, nil)
	leased := e.enqueue(`{"kind":"k"}`)
	l := e.leaseOne()
	j := e.enqueue(`{"kind":"k"}`)
	e.expect(http.StatusOK, req{method: "GET", path: "/readyz"})
	if e.api.Draining() {
		t.Fatal("draining before Drain")
	}
	e.api.Drain()
	e.api.Drain() // twice is fine
	for _, r := range []req{
		{method: "GET", path: "/v1/jobs/" + j.ID},
		{method: "POST", path: "/v1/jobs", body: `{"kind":"k"}`},
		{method: "POST", path: "/v1/queues/default/lease", body: `{}`},
		{method: "GET", path: "/readyz"},
	} {
		resp := e.expect(http.StatusServiceUnavailable, r)
		if p := resp.problem(t); p.Code != httpapi.CodeDraining || resp.Header.Get("Retry-After") != "5" {
			t.Errorf("%s %s: %+v, Retry-After %q", r.method, r.path, p, resp.Header.Get("Retry-After"))
		}
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
	// A worker that holds a lease still reports on it while the server drains.
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + l.ID + "/heartbeat", body: map[string]any{"lease_token": l.LeaseToken}})
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + l.ID + "/complete", body: map[string]any{"lease_token": l.LeaseToken}})
	if l.ID != leased.ID {
		t.Errorf("leased %s, want the first job %s", l.ID, leased.ID)
	}
}

func TestLongPollEndsOnDrain(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"k"}`)
	done := make(chan *response, 1)
	go func() { done <- e.do(req{method: "GET", path: "/v1/jobs/" + j.ID + "?wait=60s"}) }()
	start := time.Now()
	e.api.Drain()
	// Whether the long-poll began before the drain or not, it ends at once:
	// with the job as it is, or refused.
	resp := <-done
	switch resp.StatusCode {
	case http.StatusOK:
		var got httpapi.JobResource
		resp.decode(t, &got)
		if got.State != "available" {
			t.Errorf("drained long-poll answered %+v", got)
		}
	case http.StatusServiceUnavailable:
		resp.problem(t)
	default:
		t.Errorf("drained long-poll: status %d: %s", resp.StatusCode, resp.body)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the long-poll ended %v after the drain", took)
	}
}

func TestStoreDown(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"k"}`)
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []req{
		{method: "GET", path: "/readyz"},
		{method: "GET", path: "/v1/jobs/" + j.ID},
		{method: "POST", path: "/v1/jobs", body: `{"kind":"k"}`},
	} {
		resp := e.expect(http.StatusServiceUnavailable, r)
		if p := resp.problem(t); p.Code != httpapi.CodeStoreUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: %+v", r.method, r.path, p)
		}
		if strings.Contains(string(resp.body), "closed") {
			t.Errorf("the answer tells the internal cause: %s", resp.body)
		}
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
}

func TestMethodNotAllowedAndNotFound(t *testing.T) {
	e := setup(t, nil)
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/jobs/x", "GET, HEAD"},
		{"PUT", "/v1/jobs", "GET, HEAD, POST"},
		{"GET", "/v1/jobs/x/cancel", "POST"},
		{"GET", "/v1/queues/q/lease", "POST"},
		{"POST", "/v1/queues", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		resp := e.expect(http.StatusMethodNotAllowed, req{method: tc.method, path: tc.path})
		if p := resp.problem(t); p.Code != httpapi.CodeMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %+v, Allow %q, want %q", tc.method, tc.path, p, resp.Header.Get("Allow"), tc.allow)
		}
	}
	for _, path := range []string{"/", "/v2/jobs", "/v1/jobs/x/y/z", "/v1/pipelines"} {
		if p := e.expect(http.StatusNotFound, req{method: "GET", path: path}).problem(t); p.Code != httpapi.CodeNotFound {
			t.Errorf("%s: %+v", path, p)
		}
	}
}

func TestPanicsAreInternalErrors(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) {
		c.OnReject = func(reason string) {
			if reason == httpapi.CodeNotFound {
				panic("a broken hook")
			}
		}
	}})
	p := e.expect(http.StatusInternalServerError, req{method: "GET", path: "/v1/jobs/nope"}).problem(t)
	if p.Code != httpapi.CodeInternal || strings.Contains(p.Detail, "broken") {
		t.Errorf("problem = %+v", p)
	}
	e.enqueue(`{"kind":"k"}`) // the server goes on
}

func TestObserveSeesEveryRequest(t *testing.T) {
	type call struct {
		route  string
		status int
	}
	calls := make(chan call, 10)
	e := setup(t, &options{cfg: func(c *httpapi.Config) {
		c.Observe = func(route string, status int, took time.Duration) {
			if took <= 0 {
				t.Errorf("%s took %v", route, took)
			}
			calls <- call{route, status}
		}
	}})
	// Observe runs after the answer is sent: wait for each call.
	next := func(want call) {
		t.Helper()
		if got := <-calls; got != want {
			t.Errorf("Observe saw %v, want %v", got, want)
		}
	}
	j := e.enqueue(`{"kind":"k"}`)
	next(call{"POST /v1/jobs", 202})
	e.job(j.ID)
	next(call{"GET /v1/jobs/{id}", 200})
	e.expect(http.StatusNotFound, req{method: "GET", path: "/v1/jobs/nope"})
	next(call{"GET /v1/jobs/{id}", 404})
	e.expect(http.StatusNotFound, req{method: "GET", path: "/nope"})
	next(call{"/", 404})
}

// A client that goes away before its answer is not a store outage: it is
// counted and answered as client_closed_request (499, which nobody reads),
// so that store_unavailable alerts and logs mean what they say.
func TestClientGoneIsNotAStoreOutage(t *testing.T) {
	var mu sync.Mutex
	var codes []string
	e := setup(t, &options{cfg: func(c *httpapi.Config) {
		c.OnReject = func(code string) {
			mu.Lock()
			codes = append(codes, code)
			mu.Unlock()
		}
	}})
	j := e.enqueue(`{"kind":"k"}`)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	r := httptest.NewRequestWithContext(ctx, "GET", "/v1/jobs/"+j.ID+"?wait=30s", nil)
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	if w.Code != httpapi.StatusClientClosedRequest {
		t.Errorf("status %d, want %d: %s", w.Code, httpapi.StatusClientClosedRequest, w.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(codes) != 1 || codes[0] != httpapi.CodeClientClosedRequest {
		t.Errorf("OnReject saw %v, want [%s]", codes, httpapi.CodeClientClosedRequest)
	}
}

// TestDuplicateNeedsRead: a unique_key duplicate is another caller's job;
// a token that may only enqueue learns its id, kind, queue and state, not
// its args.
func TestDuplicateNeedsRead(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) {
		c.Tokens = []httpapi.Token{
			{Value: "admin-token", Scopes: []httpapi.Scope{httpapi.ScopeAdmin}},
			{Value: "enqueue-token", Scopes: []httpapi.Scope{httpapi.ScopeEnqueue}},
			{Value: "enqueue-read-token", Scopes: []httpapi.Scope{httpapi.ScopeEnqueue, httpapi.ScopeRead}},
		}
	}})
	e.token = "admin-token"
	first := e.enqueue(`{"kind":"payroll","queue":"hr","unique_key":"payroll-2026-12","args":{"salary":1000000}}`)
	for _, tc := range []struct {
		token, path, body string
		whole             bool
	}{
		{"enqueue-token", "/v1/jobs", `{"kind":"x","unique_key":"payroll-2026-12"}`, false},
		{"enqueue-token", "/v1/jobs/batch", `{"jobs":[{"kind":"x"},{"kind":"x","unique_key":"payroll-2026-12"}]}`, false},
		{"enqueue-read-token", "/v1/jobs", `{"kind":"x","unique_key":"payroll-2026-12"}`, true},
		{"enqueue-read-token", "/v1/jobs/batch", `{"jobs":[{"kind":"x","unique_key":"payroll-2026-12"}]}`, true},
	} {
		e.token = tc.token
		resp := e.expect(http.StatusAccepted, req{method: "POST", path: tc.path, body: strings.NewReader(tc.body)})
		var dup map[string]json.RawMessage
		if tc.path == "/v1/jobs" {
			if resp.Header.Get(httpapi.HeaderDuplicate) != "true" {
				t.Errorf("%s: no %s header", tc.token, httpapi.HeaderDuplicate)
			}
			resp.decode(t, &dup)
		} else {
			var b struct{ Jobs []map[string]json.RawMessage }
			resp.decode(t, &b)
			dup = b.Jobs[len(b.Jobs)-1]
		}
		if string(dup["id"]) != `"`+first.ID+`"` || string(dup["state"]) == "" || string(dup["queue"]) != `"hr"` {
			t.Errorf("%s %s: answer %v does not name the existing job", tc.token, tc.path, dup)
		}
		if _, hasArgs := dup["args"]; hasArgs != tc.whole || (len(dup) == 4) == tc.whole {
			t.Errorf("%s %s: answer has %d members (args: %v), want the whole job: %v", tc.token, tc.path, len(dup), hasArgs, tc.whole)
		}
	}
}

// TestMetricsRoute: /metrics is a route like the others: never cached, 405
// for other methods.
func TestMetricsRoute(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) {
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			fmt.Fprintln(w, "gantry_up 1")
		})
	}})
	m := e.expect(http.StatusOK, req{method: "GET", path: "/metrics"})
	if m.Header.Get("Cache-Control") != "no-store" || m.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET /metrics headers = %v", m.Header)
	}
	p := e.expect(http.StatusMethodNotAllowed, req{method: "POST", path: "/metrics", body: strings.NewReader("{}")})
	if pr := p.problem(t); pr.Code != httpapi.CodeMethodNotAllowed || p.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /metrics = %+v, Allow %q", pr, p.Header.Get("Allow"))
	}
}

// TestUncleanPaths: a path with ".", ".." or "//" segments is a 404
// problem, not http.ServeMux's text/html redirect.
func TestUncleanPaths(t *testing.T) {
	e := setup(t, nil)
	for _, p := range []string{"/v1/./jobs", "/v1/jobs/../queues", "//v1/queues", "/v1//queues", "/v1/queues/.", "/healthz/.."} {
		hr, err := http.NewRequest("GET", e.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		hr.URL.Opaque = p // sent as written, not cleaned by the client
		resp, err := http.DefaultTransport.RoundTrip(hr)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(body), `"not_found"`) {
			t.Errorf("GET %s: %d %s %s", p, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}
