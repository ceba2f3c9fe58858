package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/config"
)

// run opens and runs a server with cfg until the test ends, and returns
// its base URL.
func run(t *testing.T, cfg *config.Serve) string {
	t.Helper()
	return runWith(t, cfg, nil)
}

// healthz gets /healthz on a connection of its own, within a few seconds.
func healthz(t *testing.T, base string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", res.Status)
	}
}

// metric returns the value of a series in /metrics.
func metric(t *testing.T, base, name string) string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return ""
}

// TestConnectionLimit: at --max-connections the server stops accepting,
// and connections that sit idle (here: open, never sending a request) are
// closed to make room, so /healthz still answers; the limits and the open
// connections are in /metrics.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxConnections, cfg.MaxStreams = 3, 1
	base := run(t, cfg)
	addr := strings.TrimPrefix(base, "http://")
	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	healthz(t, base) // it waits in the backlog until an idle connection is closed
	// The oldest idle connection was closed by the server.
	_ = idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the oldest idle connection: read %v, want EOF (closed by the server)", err)
	}
	if v := metric(t, base, "gantry_http_connections_limit"); v != "3" {
		t.Errorf("gantry_http_connections_limit = %s, want 3", v)
	}
	// The scrape's own connection, and what is left of the idle ones.
	if v := metric(t, base, "gantry_http_connections"); v != "1" && v != "2" && v != "3" {
		t.Errorf("gantry_http_connections = %s, want 1 to 3", v)
	}
}

// TestStreamsLimitKeepsHealthz: long-lived requests (real SSE clients)
// cannot take every connection: beyond --max-streams they get 503
// server_busy, and /healthz answers while the cap is reached.
func TestStreamsLimitKeepsHealthz(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxConnections, cfg.MaxStreams = 4, 2
	base := run(t, cfg)
	res, err := http.Post(base+"/v1/jobs", "application/json", strings.NewReader(`{"kind":"external.wait"}`))
	if err != nil {
		t.Fatal(err)
	}
	var j httpapi.JobResource
	if err := decode(res, &j); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err := http.Get(base + "/v1/jobs/" + j.ID + "/events")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		line, err := bufio.NewReader(res.Body).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "id: ") {
			t.Fatalf("stream %d: %q, %v", i, line, err)
		}
	}
	res, err = http.Get(base + "/v1/jobs/" + j.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), httpapi.CodeServerBusy) || res.Header.Get("Retry-After") == "" {
		t.Errorf("a third stream: %s %s (Retry-After %q), want 503 %s", res.Status, body, res.Header.Get("Retry-After"), httpapi.CodeServerBusy)
	}
	for range 5 {
		healthz(t, base)
	}
	for name, want := range map[string]string{"gantry_http_streams": "2", "gantry_http_streams_limit": "2", "gantry_http_connections_limit": "4"} {
		if v := metric(t, base, name); v != want {
			t.Errorf("%s = %s, want %s", name, v, want)
		}
	}
}

// TestUploadIdleTimeoutServe: --upload-idle-timeout applies to the real
// server, whose own read timeout is for JSON bodies: an upload that
// stalls is answered 408 body_incomplete.
func TestUploadIdleTimeoutServe(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.UploadIdleTimeout = 200 * time.Millisecond
	base := run(t, cfg)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/jobs?kind=upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 20\r\n\r\n0123456789")
	time.Sleep(time.Second)
	_, _ = c.Write([]byte("0123456789"))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), httpapi.CodeBodyIncomplete) {
		t.Errorf("stalled upload: %s %s, want 408 %s", res.Status, body, httpapi.CodeBodyIncomplete)
	}
}

func decode(res *http.Response, v any) error {
	defer res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %s", res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}
