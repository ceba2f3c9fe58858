package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// gantry health is the container's HEALTHCHECK: exit 0 when the server
// answers 200, 1 when it answers anything else or nothing.
func TestHealth(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil)
	out := p.mustCLI(exitOK, "health")
	if !strings.Contains(out, "/healthz: {\"status\":\"ok\"}") {
		t.Errorf("health: %q", out)
	}
	if out := p.mustCLI(exitOK, "health", "--ready", "--json"); strings.TrimSpace(out) != `{"status":"ready"}` {
		t.Errorf("health --ready --json: %q", out)
	}

	draining := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":503,"code":"draining","detail":"the server is shutting down"}`))
	}))
	defer draining.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"503", []string{"health", "--ready", "--server", draining.URL}, "/readyz: the server is shutting down (draining)"},
		{"unreachable", []string{"health", "--server", "http://127.0.0.1:1"}, "/healthz: cannot reach the Gantry server"},
	} {
		_, stderr, code := runInProcess(t, nil, tc.args...)
		if code != exitFailure || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, stderr, exitFailure, tc.want)
		}
	}
	if _, _, code := runInProcess(t, nil, "health", "--timeout", "0s"); code != exitUsage {
		t.Errorf("--timeout 0s: exit %d, want %d", code, exitUsage)
	}
}
