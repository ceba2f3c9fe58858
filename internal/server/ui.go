package server

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/push"
	"github.com/gantry-dev/gantry/internal/tracing"
	"github.com/gantry-dev/gantry/ui"
)

// UIPath is where the server mounts the dashboard; GET / redirects to it.
const UIPath = "/ui/"

// handler is what the HTTP server serves: the dashboard under UIPath, a
// redirect to it at / and at UIPath without its slash, and the API
// everywhere else, each request in a server span (tracing.Handler). It
// routes by prefix rather than with an http.ServeMux, which would
// redirect unclean paths the API answers itself.
func (s *Server) handler() (http.Handler, error) {
	cfg := &ui.Config{API: s.api, Client: s.client, Logger: s.log}
	if s.push != nil {
		cfg.PushTargets = s.pushTargets
	}
	dash, err := ui.New(cfg)
	if err != nil {
		return nil, err
	}
	s.dash = dash
	strip := http.StripPrefix(strings.TrimSuffix(UIPath, "/"), dash)
	return tracing.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, UIPath):
			strip.ServeHTTP(w, r)
		case (p == "/" || p+"/" == UIPath) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, UIPath, http.StatusFound)
		default:
			s.api.ServeHTTP(w, r)
		}
	}), s.tp), nil
}

// pushTargets is the dashboard's view of the push targets: the
// dispatcher's targets and limits with the pushes counted by pushSeen.
func (s *Server) pushTargets() []ui.PushTarget {
	stats := map[string]push.Stat{}
	for _, st := range s.push.Stats() {
		stats[st.Target] = st
	}
	var out []ui.PushTarget
	for _, t := range s.push.Targets() {
		st := stats[t.Name]
		c := s.pushSeen.get(t.Name)
		out = append(out, ui.PushTarget{Name: t.Name, Queue: t.Queue, URL: t.URL, Min: t.Min, Max: t.Max,
			Limit: st.Limit, InFlight: st.InFlight,
			Requests: c.requests, Overloads: c.overloads, LatencySeconds: c.latency.Seconds()})
	}
	return out
}

// pushSignals counts the pushes to each target since the start: how many
// ended, how many of them were overload signals (an answer 429 or 503, or
// a timeout: what makes the limit decrease) and their summed latency.
type pushSignals struct {
	mu  sync.Mutex
	per map[string]pushCounts
}

type pushCounts struct {
	requests, overloads int64
	latency             time.Duration
}

func newPushSignals() *pushSignals { return &pushSignals{per: map[string]pushCounts{}} }

// observe counts one push; those cut off by shutdown say nothing of the
// target and are left out.
func (p *pushSignals) observe(target, outcome string, took time.Duration) {
	if outcome == push.OutcomeReleased {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.per[target]
	c.requests++
	c.latency += took
	if outcome == push.OutcomeOverload || outcome == push.OutcomeTimeout {
		c.overloads++
	}
	p.per[target] = c
}

func (p *pushSignals) get(target string) pushCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.per[target]
}
