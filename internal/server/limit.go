package server

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantry-dev/gantry/internal/metrics"
)

// Defaults of the connection and stream limits derive from the process's
// limit of open files (RLIMIT_NOFILE): every connection is a descriptor,
// and the stores need theirs (Pebble's tables and WAL, blob files being
// written and read, PostgreSQL's pool). See
// docs/decisions/0009-connection-limits.md.
const (
	// connectionShare is the share of the file limit that connections may
	// take: the rest is the stores'.
	connectionShare = 2
	// streamShare is the share of the connections that long-lived requests
	// may hold, so that short ones (health checks among them) always find
	// a connection.
	streamShare = 2
	// maxDefaultConnections caps the derived connection limit where the
	// file limit is huge.
	maxDefaultConnections = 1 << 16
	// minDefaultConnections is the least derived connection limit.
	minDefaultConnections = 16
)

// fileLimit returns the process's soft limit of open files, 0 if unknown.
// (Go raises the soft limit to the hard one at start.)
func fileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// connLimits returns the connection and stream limits: those configured,
// the others derived from files, the process's file limit.
func connLimits(maxConns, maxStreams int, files uint64) (conns, streams int) {
	conns = maxConns
	if conns == 0 {
		n := files / connectionShare
		if files == 0 || n > maxDefaultConnections {
			n = maxDefaultConnections
		}
		conns = max(int(n), minDefaultConnections)
	}
	streams = maxStreams
	if streams == 0 {
		streams = max(conns/streamShare, 1)
	}
	return conns, streams
}

// limitListener serves at most max connections at once: at the limit,
// new connections wait in the kernel's listen backlog until one closes, instead of failing with EMFILE in accept(2)
// (which starves everyone, health checks included). While connections
// wait, keep-alive connections that sit idle between requests are closed
// to make room: a client that is not using its connection has no claim
// on it.
type limitListener struct {
	net.Listener
	sem  chan struct{} // one token per open connection
	done chan struct{} // closed by Close

	mu    sync.Mutex
	conns map[*limitConn]struct{}

	waiting   atomic.Int32 // 1 while Accept holds a connection for want of a slot
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{
		Listener: ln,
		sem:      make(chan struct{}, max),
		done:     make(chan struct{}),
		conns:    make(map[*limitConn]struct{}),
	}
}

// Accept accepts a connection when there is a free slot. At the limit it
// still accepts the next connection, so that it knows a client is
// waiting, and holds it (one descriptor over the limit, never more: only
// Serve's goroutine calls Accept) while it closes the connection idle the
// longest, or until a slot frees. Meanwhile the connections that wait
// behind it stay in the kernel's listen backlog, costing no descriptor.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		return l.track(c), nil
	default:
	}
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	// Look again now and then: a new connection becomes closeable once it
	// has been silent for newConnGrace.
	t := time.NewTicker(newConnGrace / 4)
	defer t.Stop()
	for {
		l.closeIdle()
		select {
		case l.sem <- struct{}{}:
			return l.track(c), nil
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		case <-t.C:
		}
	}
}

// track counts c, which holds a slot.
func (l *limitListener) track(c net.Conn) *limitConn {
	lc := &limitConn{Conn: c, l: l, accepted: time.Now()}
	lc.idleSince.Store(-1)
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	return lc
}

// Close closes the listener and ends an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open returns how many connections are open.
func (l *limitListener) Open() int { return len(l.sem) }

// Limit returns the most connections open at once.
func (l *limitListener) Limit() int { return cap(l.sem) }

// newConnGrace is how long a new connection may stay silent before
// closeIdle takes it for idle: in a burst, connections wait a moment for
// their goroutine to read the request they already sent.
const newConnGrace = time.Second

// closeIdle closes the keep-alive connection that has been idle the
// longest, or else the oldest new connection that has sent nothing for
// newConnGrace, if any.
func (l *limitListener) closeIdle() {
	var idle, silent *limitConn
	var since int64
	newBefore := time.Now().Add(-newConnGrace)
	l.mu.Lock()
	for c := range l.conns {
		switch t := c.idleSince.Load(); {
		case t > 0:
			if idle == nil || t < since {
				idle, since = c, t
			}
		case t < 0 && c.accepted.Before(newBefore):
			if silent == nil || c.accepted.Before(silent.accepted) {
				silent = c
			}
		}
	}
	l.mu.Unlock()
	switch {
	case idle != nil:
		idle.Close()
	case silent != nil:
		silent.Close()
	}
}

// connState is the http.Server's ConnState hook: it marks connections
// idle between requests, and closes one that becomes idle while
// connections wait for a slot. It costs one atomic store per request.
func (l *limitListener) connState(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitConn)
	if !ok {
		return
	}
	switch state {
	case http.StateIdle:
		if l.waiting.Load() > 0 {
			lc.Close()
			return
		}
		lc.idleSince.Store(time.Now().UnixNano())
	case http.StateActive:
		lc.idleSince.Store(0)
	}
}

// limitConn is an accepted connection; closing it frees its slot.
type limitConn struct {
	net.Conn
	l        *limitListener
	accepted time.Time
	// idleSince is UnixNano when it became idle between requests; 0: in
	// use; -1: new, no request read yet.
	idleSince atomic.Int64
	once      sync.Once
}

// ReadFrom keeps the connection's own ReadFrom (sendfile(2) for blob
// downloads) reachable through the wrapper.
func (c *limitConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// CloseWrite half-closes the connection, as net/http does before closing
// one whose request body it did not read.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		<-c.l.sem
	})
	return err
}

// registerLimitMetrics exports the connection and stream gauges, read at
// scrape time:
//
//	gantry_http_connections                  open HTTP connections
//	gantry_http_connections_limit            --max-connections in effect
//	gantry_http_streams                      long-lived requests being served
//	gantry_http_streams_limit                --max-streams in effect
//	gantry_http_streams_per_token_limit      --max-streams-per-token (0: none)
func (s *Server) registerLimitMetrics() {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metrics.Namespace, Name: name, Help: help}, f)
	}
	s.metrics.Registry().MustRegister(
		gauge("http_connections", "Open HTTP connections.", func() float64 { return float64(s.ln.Open()) }),
		gauge("http_connections_limit", "The most open HTTP connections (--max-connections); beyond it new connections wait in the listen backlog.",
			func() float64 { return float64(s.ln.Limit()) }),
		gauge("http_streams", "Long-lived requests being served: event streams, long-polls, lease waits, uploads.",
			func() float64 { return float64(s.api.Streams()) }),
		gauge("http_streams_limit", "The most long-lived requests served at once (--max-streams); beyond it they are answered 503 server_busy.",
			func() float64 { return float64(s.maxStreams) }),
		gauge("http_streams_per_token_limit", "The most long-lived requests of one token (--max-streams-per-token); 0: none.",
			func() float64 { return float64(s.cfg.MaxStreamsPerToken) }),
	)
}
