package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
)

// TestStreamsLimit: beyond MaxStreams, event streams and long-polls are
// answered 503 server_busy with Retry-After, while short requests
// (/healthz, reading and enqueueing jobs) are still served; a stream that
// ends frees its place.
func TestStreamsLimit(t *testing.T) {
	e := setup(t, &options{cfg: func(cfg *httpapi.Config) { cfg.MaxStreams = 2 }})
	j := e.enqueue(map[string]any{"kind": "k"})
	first, s1 := e.openEvents(t.Context(), j.ID)
	_, s2 := e.openEvents(t.Context(), j.ID)
	for _, s := range []*sseReader{s1, s2} {
		if _, err := s.next(); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.api.Streams(); n != 2 {
		t.Fatalf("Streams() = %d, want 2", n)
	}

	for _, path := range []string{"/v1/jobs/" + j.ID + "/events", "/v1/jobs/" + j.ID + "?wait=5s"} {
		resp := e.expect(http.StatusServiceUnavailable, req{method: "GET", path: path})
		if p := resp.problem(t); p.Code != httpapi.CodeServerBusy || resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: problem %+v, Retry-After %q; want %s with Retry-After", path, p, resp.Header.Get("Retry-After"), httpapi.CodeServerBusy)
		}
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs/" + j.ID})
	e.enqueue(map[string]any{"kind": "k"})

	first.Body.Close()
	for e.api.Streams() > 1 {
		// The server sees the stream's end when its next write fails or
		// its context ends: the closed connection ends it at once.
		e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
	}
	_, s3 := e.openEvents(t.Context(), j.ID)
	if _, err := s3.next(); err != nil {
		t.Fatal(err)
	}
}

// TestStreamsLimitPerToken: MaxStreamsPerToken bounds one token's
// long-lived requests without touching another token's.
func TestStreamsLimitPerToken(t *testing.T) {
	tokens := []httpapi.Token{
		{Value: "token-a", Scopes: []httpapi.Scope{httpapi.ScopeAdmin}},
		{Value: "token-b", Scopes: []httpapi.Scope{httpapi.ScopeAdmin}},
	}
	e := setup(t, &options{cfg: func(cfg *httpapi.Config) { cfg.Tokens, cfg.MaxStreamsPerToken = tokens, 1 }})
	e.token = "token-a"
	j := e.enqueue(map[string]any{"kind": "k"})
	_, sa := e.openEvents(t.Context(), j.ID)
	if _, err := sa.next(); err != nil {
		t.Fatal(err)
	}
	resp := e.expect(http.StatusServiceUnavailable, req{method: "GET", path: "/v1/jobs/" + j.ID + "/events"})
	if p := resp.problem(t); p.Code != httpapi.CodeServerBusy {
		t.Errorf("a second stream of token-a: %+v, want %s", p, httpapi.CodeServerBusy)
	}
	e.token = "token-b"
	_, sb := e.openEvents(t.Context(), j.ID)
	if _, err := sb.next(); err != nil {
		t.Fatal(err)
	}
}
