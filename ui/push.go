package ui

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

// PushTarget is one push target as the push page shows it: its
// configuration and its state on the node that serves the dashboard.
// Requests, Overloads and LatencySeconds count from the node's start; the
// page charts their changes between two readings.
type PushTarget struct {
	// Name is the target's key in the configuration: a kind, or
	// "queue:NAME".
	Name string `json:"name"`
	// Queue is the queue its jobs are leased from.
	Queue string `json:"queue"`
	// URL is where jobs are pushed; the answer leaves out its user
	// information and query, which may hold credentials.
	URL string `json:"url"`
	// Min and Max bound Limit.
	Min int `json:"min"`
	Max int `json:"max"`
	// Limit is the adaptive limit of requests in flight now.
	Limit int `json:"limit"`
	// InFlight is the requests in flight now.
	InFlight int `json:"in_flight"`
	// Requests counts the pushes that ended.
	Requests int64 `json:"requests"`
	// Overloads counts the pushes the target answered 429 or 503 or that
	// timed out: the signals that make the limit decrease.
	Overloads int64 `json:"overloads"`
	// LatencySeconds is the summed latency of Requests.
	LatencySeconds float64 `json:"latency_seconds"`
}

// PushTargets is the answer of GET api/push.
type PushTargets struct {
	// Targets is empty when no push target is configured.
	Targets []PushTarget `json:"targets"`
	// ReadAt is when Targets were read.
	ReadAt time.Time `json:"read_at"`
}

// servePush answers GET api/push (scope read).
func (h *Handler) servePush(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.API.Authorize(w, r, httpapi.ScopeRead) {
		return
	}
	out := PushTargets{Targets: []PushTarget{}, ReadAt: time.Now().UTC()}
	if h.cfg.PushTargets != nil {
		for _, t := range h.cfg.PushTargets() {
			t.URL = publicURL(t.URL)
			out.Targets = append(out.Targets, t)
		}
	}
	writeJSON(w, r, h.cfg.API, out)
}

// publicURL returns u without its user information, query and fragment.
func publicURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	p.User, p.RawQuery, p.Fragment, p.RawFragment, p.ForceQuery = nil, "", "", "", false
	return p.String()
}
