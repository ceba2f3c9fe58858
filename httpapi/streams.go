package httpapi

import (
	"encoding/hex"
	"net"
	"net/http"
	"sync"
)

// streams counts the long-lived requests being served (event streams,
// long-polls, lease waits, uploads) and refuses them beyond
// Config.MaxStreams overall and Config.MaxStreamsPerToken per caller. A
// long-lived request holds a connection (and a file descriptor) for as
// long as it lasts, so without a bound a few hundred idle ones take every
// connection a process may open, /healthz's included. Short requests are
// neither counted nor refused: the enqueue path does not pay for this.
type streams struct {
	max, perCaller int

	mu sync.Mutex
	n  int
	by map[string]int // by caller, only with perCaller > 0
}

func newStreams(max, perCaller int) *streams {
	return &streams{max: max, perCaller: perCaller, by: make(map[string]int)}
}

// acquire counts a long-lived request of caller, or reports false when a
// limit is reached. The caller calls release once the request ends.
func (st *streams) acquire(caller string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.max > 0 && st.n >= st.max {
		return false
	}
	if st.perCaller > 0 {
		if st.by[caller] >= st.perCaller {
			return false
		}
		st.by[caller]++
	}
	st.n++
	return true
}

func (st *streams) release(caller string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.n--
	if st.perCaller > 0 {
		if st.by[caller]--; st.by[caller] <= 0 {
			delete(st.by, caller)
		}
	}
}

func (st *streams) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.n
}

// Streams returns how many long-lived requests (event streams, long-polls,
// lease requests that wait, binary uploads) the server is serving now.
func (s *Server) Streams() int { return s.streams.count() }

// longLived counts r as a long-lived request until the returned release
// function is called, or refuses it with 503 server_busy when
// Config.MaxStreams or Config.MaxStreamsPerToken is reached.
func (s *Server) longLived(r *http.Request) (release func(), err error) {
	caller := s.caller(r)
	if !s.streams.acquire(caller) {
		return nil, problemf(http.StatusServiceUnavailable, CodeServerBusy,
			"the server serves as many long-lived requests (event streams, long-polls, lease waits, uploads) as it allows; retry later or against another node").
			withRetry(StreamRetryAfter)
	}
	return func() { s.streams.release(caller) }, nil
}

// caller names who sent r for MaxStreamsPerToken: its token (by digest,
// never the secret), or its client address on a server without tokens.
func (s *Server) caller(r *http.Request) string {
	if s.streams.perCaller == 0 {
		return ""
	}
	if len(s.tokens) > 0 {
		if t, e := s.token(r); e == nil {
			return "token:" + hex.EncodeToString(t.sum[:8])
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}
