package main

import (
	"regexp"
	"strings"
	"testing"
)

// queues limits shows, sets and removes a queue's stored limits.
func TestQueuesLimits(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	if out := p.mustCLI(0, "queues", "limits", "default"); out != "default\tno limits\n" {
		t.Errorf("limits of an unlimited queue: %q", out)
	}
	if out := p.mustCLI(0, "queues", "limits", "email", "--rate", "50/s", "--burst", "10"); out != "email\trate 50/s\tburst 10\n" {
		t.Errorf("setting limits: %q", out)
	}
	if out := p.mustCLI(0, "queues", "limits", "email"); out != "email\trate 50/s\tburst 10\n" {
		t.Errorf("showing limits: %q", out)
	}
	if out := p.mustCLI(0, "queues", "limits", "email", "--json"); !strings.Contains(out, `"rate":"50/s"`) {
		t.Errorf("--json: %q", out)
	}
	if out := p.mustCLI(0, "queues", "limits", "email", "--none"); out != "email\tno limits\n" {
		t.Errorf("removing limits: %q", out)
	}
	if _, stderr, code := p.cli("queues", "limits", "email", "--rate", "fast"); code == 0 || !strings.Contains(stderr, "rate") {
		t.Errorf("a bad rate: exit %d, %s", code, stderr)
	}
	if _, stderr, code := p.cli("queues", "limits", "email", "--burst", "3"); code != exitUsage || !strings.Contains(stderr, "--burst needs --rate") {
		t.Errorf("--burst alone: exit %d, %s", code, stderr)
	}
	// Per-key limits, weights and sequences; queues ls shows the rate and
	// the key.
	if out := p.mustCLI(0, "queues", "limits", "email", "--rate", "50/s", "--key", "args.customer_id", "--per-key-concurrency", "2",
		"--per-key-rate", "5/s", "--per-key-burst", "3", "--weight", "acme=3", "--weight", "a=b=2"); out !=
		"email\trate 50/s\tburst 1\tkey args.customer_id\tper_key_concurrency 2\tper_key_rate 5/s\tper_key_burst 3\tweights a=b=2,acme=3\n" {
		t.Errorf("setting per-key limits: %q", out)
	}
	if out := p.mustCLI(0, "queues", "ls"); !strings.Contains(out, "RATE/KEY") || !regexp.MustCompile(`(?m)^email .* 50/s key args\.customer_id$`).MatchString(out) {
		t.Errorf("queues ls does not show the rate and key:\n%s", out)
	}
	if out := p.mustCLI(0, "queues", "limits", "email", "--key", "args.account", "--per-key-concurrency", "1", "--order", "fifo"); out !=
		"email\tkey args.account\tper_key_concurrency 1\torder fifo\n" {
		t.Errorf("a sequence: %q", out)
	}
	if out := p.mustCLI(0, "queues", "ls"); !regexp.MustCompile(`(?m)^email .* key args\.account$`).MatchString(out) {
		t.Errorf("queues ls does not show the key:\n%s", out)
	}
	for _, tc := range []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{[]string{"--per-key-concurrency", "2"}, exitUsage, "need --key"},
		{[]string{"--weight", "a=2"}, exitUsage, "need --key"},
		{[]string{"--key", "kind", "--weight", "a"}, exitUsage, "want KEY=N"},
		{[]string{"--key", "kind", "--weight", "a=x"}, exitUsage, "want KEY=N"},
		{[]string{"--key", "kind", "--per-key-burst", "2"}, exitUsage, "--per-key-burst needs --per-key-rate"},
		{[]string{"--none", "--key", "kind"}, exitUsage, "--none takes no other limit"},
		{[]string{"--key", "customer"}, 1, "key"},
		{[]string{"--key", "kind", "--order", "fifo"}, 1, "per_key_concurrency"},
		{[]string{"--key", "kind", "--weight", "a=0"}, 1, "weights"},
	} {
		_, stderr, code := p.cli(append([]string{"queues", "limits", "email"}, tc.args...)...)
		if (tc.code == exitUsage && code != exitUsage) || code == 0 || !strings.Contains(stderr, tc.wantStderr) {
			t.Errorf("queues limits email %q: exit %d, %s; want exit %d and %q", tc.args, code, stderr, tc.code, tc.wantStderr)
		}
	}
	if _, stderr, code := p.cli("queues", "limits", "nosuch"); code != exitNotFound || !strings.Contains(stderr, `queue "nosuch" not found`) {
		t.Errorf("an unknown queue: exit %d, %s", code, stderr)
	}
}
