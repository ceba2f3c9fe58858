package push

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/ratelimit"
	"github.com/gantry-dev/gantry/store"
)

// Defaults of a Target.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMinConcurrency   = 1
	DefaultMaxConcurrency   = 16
	DefaultMaxResponseBytes = 1 << 20
	// MaxConcurrency bounds a target's concurrency.max.
	MaxConcurrency = gantry.MaxWorkers
)

// QueuePrefix marks a target key that names a queue: "queue:NAME" is the
// target of every kind of queue NAME that has no target of its own.
const QueuePrefix = "queue:"

// Target is one push target of the configuration.
type Target struct {
	// Name is its key in the configuration: a kind, or "queue:NAME".
	Name string
	// URL is where jobs are POSTed: an absolute http or https URL.
	URL string
	// Queue is the queue a kind's jobs are leased from. Default
	// gantry.DefaultQueue; for a "queue:NAME" target, NAME.
	Queue string
	// Timeout bounds one request (and so an attempt, with the job's own
	// timeout when that is shorter). Default DefaultTimeout.
	Timeout time.Duration
	// Min and Max bound the requests in flight on this node. Defaults
	// DefaultMinConcurrency and DefaultMaxConcurrency.
	Min, Max int
	// Rate, when not nil, bounds how many requests start per period on
	// this node (a token bucket holding a second's worth, at least one).
	Rate *ratelimit.Rate
	// Secrets sign each request (one v1 per secret); none: unsigned.
	Secrets []string
	// MaxResponseBytes bounds the answer's body; a longer one fails the
	// attempt. Default DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Kind returns the kind a target is for, "" for a queue's target.
func (t *Target) Kind() string {
	if strings.HasPrefix(t.Name, QueuePrefix) {
		return ""
	}
	return t.Name
}

// WithDefaults returns the target with its zero fields set to their
// defaults.
func (t Target) WithDefaults() Target {
	if q, ok := strings.CutPrefix(t.Name, QueuePrefix); ok && t.Queue == "" {
		t.Queue = q
	}
	if t.Queue == "" {
		t.Queue = gantry.DefaultQueue
	}
	if t.Timeout == 0 {
		t.Timeout = DefaultTimeout
	}
	if t.Min == 0 {
		t.Min = DefaultMinConcurrency
	}
	if t.Max == 0 {
		t.Max = max(DefaultMaxConcurrency, t.Min)
	}
	if t.MaxResponseBytes == 0 {
		t.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return t
}

// Validate checks a target with its defaults applied.
func (t *Target) Validate() error {
	name := t.Name
	if q, ok := strings.CutPrefix(name, QueuePrefix); ok {
		if !store.ValidName(q) {
			return fmt.Errorf("%q: the queue name %s", name, store.NameRule)
		}
		if t.Queue != q {
			return fmt.Errorf("%q: queue %q: a queue's target takes no other queue", name, t.Queue)
		}
	} else if !store.ValidName(name) {
		return fmt.Errorf("%q: a kind %s, or \"queue:NAME\"", name, store.NameRule)
	}
	if !store.ValidName(t.Queue) {
		return fmt.Errorf("%s.queue %q: a queue name %s", name, t.Queue, store.NameRule)
	}
	if err := CheckURL(t.URL); err != nil {
		return fmt.Errorf("%s.url: %w", name, err)
	}
	switch {
	case t.Timeout <= 0:
		return fmt.Errorf("%s.timeout %v must be positive", name, t.Timeout)
	case t.Min < 1 || t.Min > MaxConcurrency:
		return fmt.Errorf("%s.concurrency.min %d must be between 1 and %d", name, t.Min, MaxConcurrency)
	case t.Max < t.Min || t.Max > MaxConcurrency:
		return fmt.Errorf("%s.concurrency.max %d must be between concurrency.min %d and %d", name, t.Max, t.Min, MaxConcurrency)
	case t.MaxResponseBytes < 1:
		return fmt.Errorf("%s.max_response_bytes %d must be positive", name, t.MaxResponseBytes)
	}
	return nil
}

// CheckURL checks a target's URL: absolute, http or https, with a host, no
// fragment.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: want an http:// or https:// URL", u.Redacted())
	case u.Host == "":
		return fmt.Errorf("%q: the URL has no host", u.Redacted())
	case u.Fragment != "":
		return fmt.Errorf("%q: the URL must have no fragment", u.Redacted())
	}
	return nil
}
