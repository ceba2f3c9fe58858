package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/gantry-dev/gantry/internal/push"
	"github.com/gantry-dev/gantry/internal/ratelimit"
)

// PushTarget is one push target of the config file, under "push": its key
// is a kind, or "queue:NAME" for every kind of queue NAME without a target
// of its own. Zero fields take push.Target's defaults.
type PushTarget struct {
	// URL is where jobs are POSTed (http or https).
	URL string `json:"url"`
	// Queue is the queue a kind's jobs are leased from; default "default".
	Queue string `json:"queue"`
	// Timeout bounds one request, a Go duration; default "30s".
	Timeout string `json:"timeout"`
	// Concurrency bounds the requests in flight on each node.
	Concurrency PushConcurrency `json:"concurrency"`
	// Rate bounds the requests started per node, "200/s", "3000/m";
	// empty: none.
	Rate string `json:"rate"`
	// SecretEnv names the environment variable that holds the signing
	// secrets, separated by commas; empty: unsigned.
	SecretEnv string `json:"secret_env"`
	// MaxResponseBytes bounds an answer's body; default 1 MiB.
	MaxResponseBytes int64 `json:"max_response_bytes"`
}

// PushConcurrency is the range a push target's concurrency adapts in.
type PushConcurrency struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

func (s *Serve) decodePush(raw json.RawMessage) error {
	ts, err := decodeSection[map[string]PushTarget](raw)
	if err != nil {
		return err
	}
	s.Push = ts
	return nil
}

// PushTargets returns the push targets of the config file, checked, with
// their secrets read through getenv, sorted by key.
func (s *Serve) PushTargets(getenv func(string) string) ([]push.Target, error) {
	keys := make([]string, 0, len(s.Push))
	for k := range s.Push {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]push.Target, 0, len(keys))
	for _, k := range keys {
		pt := s.Push[k]
		t := push.Target{Name: k, URL: pt.URL, Queue: pt.Queue, Min: pt.Concurrency.Min, Max: pt.Concurrency.Max, MaxResponseBytes: pt.MaxResponseBytes}
		if pt.Timeout != "" {
			d, err := time.ParseDuration(pt.Timeout)
			if err != nil {
				return nil, fmt.Errorf("push.%s.timeout %q: a Go duration such as 30s", k, pt.Timeout)
			}
			t.Timeout = d
		}
		if pt.Rate != "" {
			r, err := ratelimit.Parse(pt.Rate)
			if err != nil {
				return nil, fmt.Errorf("push.%s.rate: %w", k, err)
			}
			t.Rate = &r
		}
		if pt.SecretEnv != "" && getenv != nil {
			t.Secrets = push.ParseSecrets(getenv(pt.SecretEnv))
		}
		t = t.WithDefaults()
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("push.%w", err)
		}
		out = append(out, t)
	}
	return out, nil
}
