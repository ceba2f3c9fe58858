package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

// observed records what the API's Observe and OnReject hooks saw, and its
// logs.
type observed struct {
	mu       sync.Mutex
	statuses []int
	codes    []string
	logs     bytes.Buffer
	done     chan struct{} // receives after each observed request
}

func newObserved() *observed { return &observed{done: make(chan struct{}, 16)} }

func (o *observed) configure(cfg *httpapi.Config) {
	cfg.Observe = func(route string, status int, took time.Duration) {
		o.mu.Lock()
		o.statuses = append(o.statuses, status)
		o.mu.Unlock()
		o.done <- struct{}{}
	}
	cfg.OnReject = func(code string) {
		o.mu.Lock()
		o.codes = append(o.codes, code)
		o.mu.Unlock()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{o}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedWriter struct{ o *observed }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	return w.o.logs.Write(p)
}

// wait waits for the server to finish one request.
func (o *observed) wait(t *testing.T) {
	t.Helper()
	select {
	case <-o.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not finish the request")
	}
}

func (o *observed) snapshot() (statuses []int, codes []string, logs string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int(nil), o.statuses...), append([]string(nil), o.codes...), o.logs.String()
}

// rawUpload opens a TCP connection to the server and sends the headers of
// a binary upload announcing size bytes, then sent bytes of its body.
func rawUpload(t *testing.T, e *env, size, sent int) *net.TCPConn {
	t.Helper()
	addr := strings.TrimPrefix(e.url, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /v1/jobs?kind=upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", addr, size)
	if _, err := c.Write(bytes.Repeat([]byte("x"), sent)); err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// readUploadAnswer reads the answer to a rawUpload, checked against the
// OpenAPI document.
func readUploadAnswer(t *testing.T, e *env, c net.Conn) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	u, _ := http.NewRequest("POST", e.url+"/v1/jobs?kind=upload", nil)
	checkResponse(t, "POST", u.URL, resp.StatusCode, resp.Header, body)
	return resp, body
}

// TestUploadTruncatedBody: a binary upload whose body ends before its
// Content-Length is a 400 body_incomplete (logged below ERROR), and leaves
// no blob behind.
func TestUploadTruncatedBody(t *testing.T) {
	o := newObserved()
	e := setup(t, &options{cfg: o.configure})
	c := rawUpload(t, e, 1000, 10)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, body := readUploadAnswer(t, e, c)
	o.wait(t)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"`+httpapi.CodeBodyIncomplete+`"`) {
		t.Errorf("answer %d %s, want 400 %s", resp.StatusCode, body, httpapi.CodeBodyIncomplete)
	}
	_, codes, logs := o.snapshot()
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("logged at ERROR:\n%s", logs)
	}
	if len(codes) != 1 || codes[0] != httpapi.CodeBodyIncomplete {
		t.Errorf("problems counted %v, want [%s]", codes, httpapi.CodeBodyIncomplete)
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files left behind", n)
	}
}

// TestUploadReset: a client that resets its connection mid-upload is
// recorded as 499 client_closed_request, never as a store problem, and
// leaves no blob behind.
func TestUploadReset(t *testing.T) {
	o := newObserved()
	e := setup(t, &options{cfg: o.configure})
	c := rawUpload(t, e, 1<<20, 64<<10)
	// Let the server start reading the body before the reset.
	time.Sleep(50 * time.Millisecond)
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	o.wait(t)
	statuses, codes, logs := o.snapshot()
	if len(statuses) != 1 || statuses[0] != httpapi.StatusClientClosedRequest {
		t.Errorf("statuses %v, want [%d]", statuses, httpapi.StatusClientClosedRequest)
	}
	for _, code := range codes {
		if code != httpapi.CodeClientClosedRequest {
			t.Errorf("problem %q counted, want only %s", code, httpapi.CodeClientClosedRequest)
		}
	}
	if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("logged at WARN or ERROR:\n%s", logs)
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files left behind", n)
	}
	// The server is still healthy.
	e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
}

// TestUploadIdleTimeout: an upload that stalls for longer than
// UploadIdleTimeout is answered 408 body_incomplete and stores nothing,
// while one that keeps sending, slowly, for longer than the timeout in all
// is accepted: the deadline moves on with progress.
func TestUploadIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	o := newObserved()
	e := setup(t, &options{cfg: func(cfg *httpapi.Config) {
		o.configure(cfg)
		cfg.UploadIdleTimeout = idle
	}})

	stalled := rawUpload(t, e, 20, 10)
	time.Sleep(3 * idle)
	_, _ = stalled.Write(bytes.Repeat([]byte("y"), 10))
	resp, body := readUploadAnswer(t, e, stalled)
	o.wait(t)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"code":"`+httpapi.CodeBodyIncomplete+`"`) {
		t.Errorf("stalled upload: answer %d %s, want 408 %s", resp.StatusCode, body, httpapi.CodeBodyIncomplete)
	}
	if n := e.blobFiles(); n != 0 {
		t.Errorf("%d blob files left behind", n)
	}

	slow := rawUpload(t, e, 12, 0)
	for range 12 { // 12 × idle/3: longer than idle in all
		time.Sleep(idle / 3)
		if _, err := slow.Write([]byte("z")); err != nil {
			t.Fatal(err)
		}
	}
	resp, body = readUploadAnswer(t, e, slow)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("slow upload: answer %d %s, want 202", resp.StatusCode, body)
	}
}
