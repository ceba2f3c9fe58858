package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

// badCase is one hostile or mistaken request and the answer it must get.
type badCase struct {
	name    string
	method  string
	path    string
	body    string
	header  map[string]string
	token   string // default: the admin token
	status  int
	code    string // the problem's code; "" for an answer that is not a problem
	field   string // the problem's field, when it names one
	noStore bool   // the answer must carry Cache-Control: no-store
}

// The tokens of the matrix's server, one per kind of caller.
const (
	adminToken   = "admin-secret-1"
	enqueueToken = "enqueue-secret-1"
)

// TestBadInputMatrix drives a real gantry serve (stores on disk, HTTP on
// loopback) with every request that the hardening review found mishandled,
// and checks each answer, then that the server is still healthy and lost
// nothing: the job count is what the accepted requests made, and every
// acknowledged id reads back.
func TestBadInputMatrix(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Tokens = []config.Token{
		{Value: adminToken, Scopes: []string{"admin"}},
		{Value: enqueueToken, Scopes: []string{"enqueue"}},
	}
	s, err := server.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	m := &matrix{t: t, base: "http://" + s.Addr().String()}

	// The jobs that exist before: one holding a unique key, with content
	// that another caller must not see.
	held := m.enqueue(adminToken, `{"kind":"payroll","queue":"hr","unique_key":"payroll-2026-12","args":{"salary":1000000}}`)
	m.acked = append(m.acked, held)

	cases := []badCase{
		// JSON that encoding/json would take too kindly.
		{name: "key in another case", method: "POST", path: "/v1/jobs", body: `{"KIND":"a","Queue":"q"}`, status: 400, code: httpapi.CodeUnknownField, field: "KIND"},
		{name: "key twice", method: "POST", path: "/v1/jobs", body: `{"kind":"a","kind":"b"}`, status: 400, code: httpapi.CodeInvalidJSON, field: "kind"},
		{name: "key twice in args", method: "POST", path: "/v1/jobs", body: `{"kind":"a","args":{"w":1,"w":2}}`, status: 400, code: httpapi.CodeInvalidJSON, field: "args.w"},
		{name: "key twice in a batch job", method: "POST", path: "/v1/jobs/batch", body: `{"jobs":[{"kind":"a"},{"kind":"a","queue":"q","queue":"r"}]}`, status: 400, code: httpapi.CodeInvalidJSON, field: "jobs[1].queue"},
		{name: "null body", method: "POST", path: "/v1/jobs", body: `null`, status: 400, code: httpapi.CodeInvalidJSON},
		{name: "array body", method: "POST", path: "/v1/jobs", body: `[{"kind":"a"}]`, status: 400, code: httpapi.CodeInvalidJSON},
		// Zero is not the default.
		{name: "priority 0", method: "POST", path: "/v1/jobs", body: `{"kind":"a","priority":0}`, status: 422, code: httpapi.CodeInvalidField, field: "priority"},
		{name: "max_attempts 0", method: "POST", path: "/v1/jobs", body: `{"kind":"a","max_attempts":0}`, status: 422, code: httpapi.CodeInvalidField, field: "max_attempts"},
		{name: "priority 0 on an upload", method: "POST", path: "/v1/jobs?kind=a&priority=0", body: "payload",
			header: map[string]string{"Content-Type": "application/octet-stream"}, status: 422, code: httpapi.CodeInvalidField, field: "priority"},
		{name: "priority 10 in a batch", method: "POST", path: "/v1/jobs/batch", body: `{"jobs":[{"kind":"a","priority":10}]}`, status: 422, code: httpapi.CodeInvalidField, field: "jobs[0].priority"},
		// Times outside 1970-2200 are refused, never wrapped.
		{name: "run_at 9999", method: "POST", path: "/v1/jobs", body: `{"kind":"t","run_at":"9999-12-31T23:59:59Z"}`, status: 422, code: httpapi.CodeInvalidField, field: "run_at"},
		{name: "run_at 1677", method: "POST", path: "/v1/jobs", body: `{"kind":"t","run_at":"1677-01-01T00:00:00Z"}`, status: 422, code: httpapi.CodeInvalidField, field: "run_at"},
		{name: "delay past 2200", method: "POST", path: "/v1/jobs", body: `{"kind":"t","delay":"2562047h"}`, status: 422, code: httpapi.CodeInvalidField, field: "delay"},
		{name: "run_at 9999 in a batch", method: "POST", path: "/v1/jobs/batch", body: `{"jobs":[{"kind":"t"},{"kind":"t","run_at":"9999-12-31T23:59:59Z"}]}`, status: 422, code: httpapi.CodeInvalidField, field: "jobs[1].run_at"},
		// Queries the endpoints do not take.
		{name: "query on events", method: "GET", path: "/v1/jobs/" + held + "/events?x=1", status: 400, code: httpapi.CodeUnknownField, field: "x"},
		{name: "pause of an unknown queue", method: "POST", path: "/v1/queues/nosuchqueue/pause", status: 404, code: httpapi.CodeNotFound},
		// Paths and methods.
		{name: "dot segment", method: "GET", path: "/v1/./queues", status: 404, code: httpapi.CodeNotFound},
		{name: "dot-dot segment", method: "GET", path: "/v1/jobs/../queues", status: 404, code: httpapi.CodeNotFound},
		{name: "double slash", method: "GET", path: "/v1//queues", status: 404, code: httpapi.CodeNotFound},
		{name: "POST /metrics", method: "POST", path: "/metrics", body: `{}`, status: 405, code: httpapi.CodeMethodNotAllowed},
		{name: "GET /metrics", method: "GET", path: "/metrics", status: 200, noStore: true},
		// Auth.
		{name: "no token", method: "POST", path: "/v1/jobs", body: `{"kind":"a"}`, token: "-", status: 401, code: httpapi.CodeUnauthorized},
		{name: "enqueue token reads", method: "GET", path: "/v1/jobs/" + held, token: enqueueToken, status: 403, code: httpapi.CodeForbidden},
	}
	for _, c := range cases {
		m.check(c)
	}

	// A unique_key duplicate answered to an enqueue-only token names the
	// held job and shows nothing of it.
	res, body := m.do(badCase{method: "POST", path: "/v1/jobs", body: `{"kind":"x","unique_key":"payroll-2026-12"}`, token: enqueueToken})
	var dup map[string]json.RawMessage
	if err := json.Unmarshal(body, &dup); err != nil || res.StatusCode != http.StatusAccepted ||
		string(dup["id"]) != `"`+held+`"` || dup["args"] != nil || len(dup) != 4 {
		t.Errorf("duplicate for an enqueue-only token: %d %s", res.StatusCode, body)
	}

	// A payload is never cached, whatever the answer.
	blob := m.upload("/v1/jobs?kind=img", "0123456789")
	m.acked = append(m.acked, blob)
	m.check(badCase{name: "payload", method: "GET", path: "/v1/jobs/" + blob + "/blob", status: 200, noStore: true})
	m.check(badCase{name: "payload range", method: "GET", path: "/v1/jobs/" + blob + "/blob", header: map[string]string{"Range": "bytes=2-3"}, status: 206, noStore: true})
	m.check(badCase{name: "payload bad range", method: "GET", path: "/v1/jobs/" + blob + "/blob", header: map[string]string{"Range": "bytes=99-"}, status: 416, noStore: true})

	m.healthyAndWhole()
}

// matrix sends the requests of a bad-input matrix and remembers the ids it
// was acknowledged.
type matrix struct {
	t     *testing.T
	base  string
	acked []string
}

func (m *matrix) do(c badCase) (*http.Response, []byte) {
	m.t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, m.base, body)
	if err != nil {
		m.t.Fatal(err)
	}
	req.URL.Opaque = c.path // as written: the client must not clean it
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch c.token {
	case "":
		req.Header.Set("Authorization", "Bearer "+adminToken)
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		m.t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		m.t.Fatalf("%s %s: reading the answer: %v", c.method, c.path, err)
	}
	return res, b
}

func (m *matrix) check(c badCase) {
	m.t.Helper()
	res, body := m.do(c)
	if res.StatusCode != c.status {
		m.t.Errorf("%s (%s %s): status %d, want %d: %.300s", c.name, c.method, c.path, res.StatusCode, c.status, body)
		return
	}
	if c.noStore && res.Header.Get("Cache-Control") != "no-store" {
		m.t.Errorf("%s: Cache-Control %q, want no-store", c.name, res.Header.Get("Cache-Control"))
	}
	if c.code == "" {
		return
	}
	var p httpapi.Problem
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		m.t.Errorf("%s: Content-Type %q, want application/problem+json: %.300s", c.name, ct, body)
		return
	}
	if err := json.Unmarshal(body, &p); err != nil {
		m.t.Errorf("%s: the problem does not decode: %v: %.300s", c.name, err, body)
		return
	}
	if p.Code != c.code || p.Field != c.field || p.Status != c.status {
		m.t.Errorf("%s: problem %s/%q/%d, want %s/%q/%d: %s", c.name, p.Code, p.Field, p.Status, c.code, c.field, c.status, p.Detail)
	}
}

func (m *matrix) enqueue(token, body string) string {
	m.t.Helper()
	res, b := m.do(badCase{method: "POST", path: "/v1/jobs", body: body, token: token})
	var j httpapi.JobResource
	if err := json.Unmarshal(b, &j); err != nil || res.StatusCode != http.StatusAccepted || j.ID == "" {
		m.t.Fatalf("enqueue %s: %d %s", body, res.StatusCode, b)
	}
	return j.ID
}

func (m *matrix) upload(path, payload string) string {
	m.t.Helper()
	res, b := m.do(badCase{method: "POST", path: path, body: payload, header: map[string]string{"Content-Type": "application/octet-stream"}})
	var j httpapi.JobResource
	if err := json.Unmarshal(b, &j); err != nil || res.StatusCode != http.StatusAccepted || j.Blob == nil {
		m.t.Fatalf("upload: %d %s", res.StatusCode, b)
	}
	return j.ID
}

// healthyAndWhole checks that the server answers its health checks and
// holds exactly the jobs it acknowledged.
func (m *matrix) healthyAndWhole() {
	m.t.Helper()
	for _, p := range []string{"/healthz", "/readyz"} {
		if res, b := m.do(badCase{method: "GET", path: p}); res.StatusCode != http.StatusOK {
			m.t.Errorf("after the matrix, %s: %d %s", p, res.StatusCode, b)
		}
	}
	for _, id := range m.acked {
		if res, b := m.do(badCase{method: "GET", path: "/v1/jobs/" + id}); res.StatusCode != http.StatusOK {
			m.t.Errorf("acknowledged job %s: %d %s", id, res.StatusCode, b)
		}
	}
	// Every job, of every state, counted by queue: the kinds of the matrix
	// have no handler here, so nothing finishes or goes away meanwhile.
	res, b := m.do(badCase{method: "GET", path: "/v1/queues"})
	var ql httpapi.QueueList
	if err := json.Unmarshal(b, &ql); err != nil || res.StatusCode != http.StatusOK {
		m.t.Fatalf("queues: %d %s", res.StatusCode, b)
	}
	total := 0
	for _, q := range ql.Queues {
		for _, n := range q.Counts {
			total += int(n)
		}
	}
	if total != len(m.acked) {
		m.t.Errorf("the store holds %d jobs; the server acknowledged %d", total, len(m.acked))
	}
}
