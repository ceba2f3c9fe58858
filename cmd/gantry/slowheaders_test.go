package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/server"
)

// A client that sends its request headers too slowly is cut off when
// server.ReadHeaderTimeout has passed since its request began, however steadily
// it trickles bytes, and the server keeps answering everyone else. It
// takes server.ReadHeaderTimeout (10 s) of wall time, in parallel with the rest.
func TestSlowHeaders(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil)
	addr := strings.TrimPrefix(p.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: gantry\r\n"); err != nil {
		t.Fatal(err)
	}

	// Trickle one byte of a header every 200 ms, never ending the headers,
	// until the server closes the connection.
	closed := make(chan time.Time, 1)
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn) // returns when the server closes
		closed <- time.Now()
		got <- string(b)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(server.ReadHeaderTimeout + 10*time.Second)
	defer limit.Stop()
	checked := false
	for {
		select {
		case <-tick.C:
			if _, err := conn.Write([]byte("X")); err != nil && time.Since(start) < server.ReadHeaderTimeout {
				t.Fatalf("the server stopped reading after %v, before server.ReadHeaderTimeout %v: %v", time.Since(start), server.ReadHeaderTimeout, err)
			}
			if !checked && time.Since(start) > server.ReadHeaderTimeout/2 {
				// Meanwhile another client is served at once.
				checked = true
				res, err := http.Get(p.url + "/healthz")
				if err != nil || res.StatusCode != http.StatusOK {
					t.Errorf("/healthz while a client trickles its headers: %v %v", res, err)
				}
				if res != nil {
					res.Body.Close()
				}
			}
			continue
		case at := <-closed:
			took := at.Sub(start)
			if took < server.ReadHeaderTimeout {
				t.Fatalf("the connection was closed after %v, before server.ReadHeaderTimeout %v", took, server.ReadHeaderTimeout)
			}
			if answer := <-got; strings.HasPrefix(answer, "HTTP/1.1 200") {
				t.Fatalf("the slow request was answered: %q", answer)
			} else if answer != "" {
				// net/http may say 408 before closing; anything but a success is fine.
				if _, err := http.ReadResponse(bufio.NewReader(strings.NewReader(answer)), nil); err != nil {
					t.Fatalf("the server closed with %q: %v", answer, err)
				}
			}
			t.Logf("closed after %v (server.ReadHeaderTimeout %v)", took, server.ReadHeaderTimeout)
		case <-limit.C:
			t.Fatalf("the connection is still open after %v, server.ReadHeaderTimeout is %v", time.Since(start), server.ReadHeaderTimeout)
		}
		break
	}
	if !checked {
		t.Error("/healthz was not tried while the client trickled")
	}
	p.mustCLI(exitOK, "health")
}
