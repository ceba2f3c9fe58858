package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

// The security tests of SECURITY.md: every route but the health checks and
// the metrics needs a token with its scope, whatever shape the credentials
// take; no token (and no lease token) shows in an answer or a log line;
// bodies and headers have limits; blob files stay inside their directory;
// and the server will not listen where others can reach it without tokens.

// openRoutes are the only routes that need no token.
var openRoutes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true}

// badCredentials are Authorization headers (and a query) that must never
// let a request through, though the server has the token tok-admin.
var badCredentials = []struct {
	name   string
	header []string // Authorization values, in order
	query  string
}{
	{name: "none"},
	{name: "empty bearer", header: []string{"Bearer "}},
	{name: "unknown token", header: []string{"Bearer nope"}},
	{name: "prefix of a token", header: []string{"Bearer tok-admi"}},
	{name: "token and more", header: []string{"Bearer tok-adminx"}},
	{name: "token with a space inside", header: []string{"Bearer tok-admin extra"}},
	{name: "basic auth", header: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("tok-admin:"))}},
	{name: "other scheme", header: []string{"Token tok-admin"}},
	{name: "no scheme", header: []string{"tok-admin"}},
	{name: "bad first header, good second", header: []string{"Bearer nope", "Bearer tok-admin"}},
	{name: "token in the query", query: "access_token=tok-admin"},
}

// TestSecurityEveryRouteNeedsAToken takes the routes from httpapi's source
// (so that a new route cannot be left out) and checks that each one but
// the health checks and metrics answers 401 to every kind of bad
// credentials, HEAD included, and that the document agrees on which routes
// are open. TestOpenAPIOperationsServed checks the scope of each.
func TestSecurityEveryRouteNeedsAToken(t *testing.T) {
	t.Parallel()
	routes := registeredRoutes(t, ".")
	doc, ops := loadOpenAPI(t)
	for _, o := range ops {
		if _, open := o.scopes(doc); open != openRoutes[o.pattern()] {
			t.Errorf("%s: the document says open=%v; only %v may be open", o.pattern(), open, keys(openRoutes))
		}
	}
	rs := newRouteServer(t)
	patterns := keys(routes)
	for _, pattern := range patterns {
		if openRoutes[pattern] {
			continue
		}
		method, path, _ := strings.Cut(pattern, " ")
		methods := []string{method}
		if method == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
		for _, m := range methods {
			for _, c := range badCredentials {
				target := strings.NewReplacer("{id}", "01JSAMPLE", "{name}", "sample").Replace(path)
				if c.query != "" {
					target += "?" + c.query
				}
				r := httptest.NewRequest(m, target, strings.NewReader(`{}`))
				r.Header.Set("Content-Type", "application/json")
				for _, h := range c.header {
					r.Header.Add("Authorization", h)
				}
				w := httptest.NewRecorder()
				rs.api.ServeHTTP(w, r)
				if w.Code != http.StatusUnauthorized {
					t.Errorf("%s %s with %s: status %d, want 401", m, path, c.name, w.Code)
				}
				if m != http.MethodHead && !strings.Contains(w.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s with %s: no WWW-Authenticate: Bearer", m, path, c.name)
				}
			}
		}
	}
	if len(patterns) < 15 {
		t.Errorf("only %d routes found in the source: %v", len(patterns), patterns)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestSecurityJSONBodyLimit: every route that takes a JSON body answers
// 413 to one over its limit (MaxJSONBody, or MaxWorkflowBody for
// workflows and spawned children), with or without a Content-Length, and
// the job the request names is unchanged.
func TestSecurityJSONBodyLimit(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.MaxJSONBody, c.MaxWorkflowBody = 1024, 1024 }})
	j := e.enqueue(map[string]any{"kind": "sec"})
	big := `{"kind":"sec","args":{"pad":"` + strings.Repeat("a", 4096) + `"}}`
	for _, pattern := range keys(registeredRoutes(t, ".")) {
		method, path, _ := strings.Cut(pattern, " ")
		if method != http.MethodPost && method != http.MethodPut {
			continue
		}
		target := strings.NewReplacer("{id}", j.ID, "{name}", "default").Replace(path)
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(big)
			if chunked {
				body = io.MultiReader(body) // no length known: sent chunked
			}
			r := e.do(req{method: method, path: target, body: body, header: map[string]string{"Content-Type": "application/json"}})
			if r.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("%s (chunked %v) with a %d-byte body: status %d, want 413; %s", pattern, chunked, len(big), r.StatusCode, r.body)
			}
		}
	}
	var after httpapi.JobResource
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs/" + j.ID}).decode(t, &after)
	if after.State != j.State || after.Attempt != j.Attempt {
		t.Errorf("the job changed: %s attempt %d, was %s attempt %d", after.State, after.Attempt, j.State, j.Attempt)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecurityServerNeverShowsTokens runs a whole server (as gantry serve
// does, with tokens, debug logs) and sends it requests with tokens it
// knows and does not know, a stale lease token, headers over the limit,
// and a malformed body; no answer and no log line may hold a token, and
// only the worker that leased a job sees its lease token.
func TestSecurityServerNeverShowsTokens(t *testing.T) {
	t.Parallel()
	const (
		admin   = "s3cret-admin-7f3a"
		reader  = "s3cret-read-9c1d"
		unknown = "s3cret-unknown-44e0"
		stale   = "1.s3cretstale0000000000"
	)
	cfg := config.DefaultServe()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.DrainDelay = 0
	cfg.Tokens = []config.Token{{Value: admin, Scopes: []string{"admin"}}, {Value: reader, Scopes: []string{"read"}}}
	var logs syncBuffer
	s, err := server.Open(t.Context(), cfg, &server.Options{Logger: server.NewLogger(&logs, "json", slog.LevelDebug)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	base := "http://" + s.Addr().String()

	var answers bytes.Buffer
	send := func(method, path, token, body string, header map[string]string) (int, []byte) {
		t.Helper()
		r, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		_ = res.Header.Write(&answers)
		answers.Write(b)
		return res.StatusCode, b
	}
	for _, tok := range []string{unknown, reader} {
		send("POST", "/v1/jobs", tok, `{"kind":"sec"}`, nil)
		send("POST", "/v1/queues/default/pause", tok, "", nil)
		send("GET", "/v1/jobs?state=bogus", tok, "", nil)
	}
	if code, b := send("POST", "/v1/jobs", admin, `{"kind":"sec","queue":"sec"}`, nil); code != http.StatusAccepted {
		t.Fatalf("enqueue: %d %s", code, b)
	}
	code, b := send("POST", "/v1/queues/sec/lease", admin, `{"max":1}`, nil)
	var leased httpapi.LeaseResponse
	if err := json.Unmarshal(b, &leased); code != http.StatusOK || err != nil || len(leased.Jobs) != 1 {
		t.Fatalf("lease: %d %s", code, b)
	}
	id, token := leased.Jobs[0].ID, leased.Jobs[0].LeaseToken
	send("POST", "/v1/jobs/"+id+"/complete", admin, `{"lease_token":"`+stale+`"}`, nil)
	send("POST", "/v1/jobs/"+id+"/heartbeat", admin, `{"lease_token":"`+stale+`"}`, nil)
	send("POST", "/v1/jobs/"+id+"/fail", admin, `{"lease_token":"`+stale+`","error":`, nil)
	// Headers over MaxHeaderBytes (net/http allows 4 KiB more) are refused
	// before any handler runs.
	if code, _ := send("GET", "/v1/jobs/"+id, admin, "", map[string]string{"X-Pad": strings.Repeat("a", server.MaxHeaderBytes+8192)}); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers over %d bytes: status %d, want 431", server.MaxHeaderBytes, code)
	}
	if code, b := send("POST", "/v1/jobs/"+id+"/complete", admin, `{"lease_token":"`+token+`"}`, nil); code != http.StatusOK {
		t.Errorf("complete with the right token: %d %s", code, b)
	}
	// A lease token is shown to the worker that leased the job, and to
	// no reader afterwards.
	_, b = send("GET", "/v1/jobs/"+id, reader, "", nil)
	if bytes.Contains(b, []byte(token)) {
		t.Errorf("a reader sees the lease token: %s", b)
	}
	_, b = send("GET", "/v1/jobs?queue=sec", reader, "", nil)
	if bytes.Contains(b, []byte(token)) {
		t.Errorf("a reader sees the lease token in a list: %s", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	answered := strings.ReplaceAll(answers.String(), token, "") // the lease answer holds it, rightly
	for _, secret := range []string{admin, reader, unknown, stale, token} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs hold %q:\n%s", secret, logs.String())
		}
		if strings.Contains(answered, secret) {
			t.Errorf("an answer holds %q", secret)
		}
	}
	if !strings.Contains(logs.String(), `"auth":"2 bearer tokens"`) {
		t.Errorf("the startup line does not say how requests are authenticated:\n%s", logs.String())
	}
}

// TestSecurityBlobFilesStayInside: a blob directory whose fan-out
// directories were replaced by symbolic links to a directory outside
// (by someone with access to the data dir) makes uploads fail; nothing is
// written through the links, since the fs blob store resolves every name
// in an os.Root.
func TestSecurityBlobFilesStayInside(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range 256 {
		name := filepath.Join(dir, "blobs", hex2(i))
		if err := os.Symlink(outside, name); err != nil {
			t.Fatal(err)
		}
	}
	e := setup(t, &options{dir: dir})
	for i := range 4 {
		r := e.do(req{method: "POST", path: "/v1/jobs?kind=upload", body: strings.NewReader(strings.Repeat("x", 100+i)),
			header: map[string]string{"Content-Type": "application/octet-stream"}})
		if r.StatusCode == http.StatusAccepted {
			t.Errorf("upload %d through a symbolic link out of the blob directory: 202 %s", i, r.body)
		} else if testing.Verbose() {
			t.Logf("upload %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%d entries written outside the blob directory, first %s", len(entries), entries[0].Name())
	}
	// Ids in paths are parsed before anything is opened.
	for _, p := range []string{"/v1/jobs/..%2f..%2fetc%2fpasswd/blob", "/v1/jobs/%2e%2e/blob", "/v1/jobs/a%00b/blob"} {
		if r := e.do(req{method: "GET", path: p}); r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400 or 404", p, r.StatusCode)
		}
	}
}

func hex2(i int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[i>>4], digits[i&15]})
}

// TestSecurityExposureGuard: without tokens, gantry serve refuses every
// address other hosts may reach, however it is spelled, and accepts the
// loopback ones; tokens or --allow-unauthenticated lift the guard.
func TestSecurityExposureGuard(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true}, {"127.1.2.3:8080", true}, {"[::1]:8080", true}, {"localhost:8080", true}, {"LOCALHOST:8080", true},
		{"[::ffff:127.0.0.1]:8080", true},
		{":8080", false}, {"0.0.0.0:8080", false}, {"[::]:8080", false}, {"0:8080", false}, {"10.0.0.1:8080", false},
		{"192.168.1.10:8080", false}, {"[fe80::1]:8080", false}, {"example.com:8080", false},
		{"127.0.0.1.nip.io:8080", false}, {"localhost.example.com:8080", false}, {"127.0.0.1", false}, {"", false},
	}
	for _, c := range cases {
		cfg := config.DefaultServe()
		cfg.Addr = c.addr
		if err := cfg.CheckExposure(); (err == nil) != c.ok {
			t.Errorf("%q without tokens: %v, want allowed %v", c.addr, err, c.ok)
		}
		cfg.AllowUnauthenticated = true
		if err := cfg.CheckExposure(); err != nil {
			t.Errorf("%q with --allow-unauthenticated: %v", c.addr, err)
		}
		cfg.AllowUnauthenticated = false
		cfg.Tokens = []config.Token{{Value: "t", Scopes: []string{"admin"}}}
		if err := cfg.CheckExposure(); err != nil {
			t.Errorf("%q with tokens: %v", c.addr, err)
		}
	}
	// An address the guard takes for loopback listens only on loopback.
	for _, c := range cases {
		if !c.ok {
			continue
		}
		ln, err := net.Listen("tcp", strings.Replace(c.addr, ":8080", ":0", 1))
		if err != nil {
			continue // e.g. no IPv6 here
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("%q listens on %v, which is not loopback", c.addr, ip)
		}
		ln.Close()
	}
}
