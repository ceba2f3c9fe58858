package main

import (
	"strings"
	"testing"
)

// queues limits shows, sets and removes a queue's stored rate limit.
func TestQueuesLimits(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--demo=false")
	if out := p.mustCLI(0, "queues", "limits", "default"); out != "default\tno rate limit\n" {
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
	if out := p.mustCLI(0, "queues", "limits", "email", "--none"); out != "email\tno rate limit\n" {
		t.Errorf("removing limits: %q", out)
	}
	if _, stderr, code := p.cli("queues", "limits", "email", "--rate", "fast"); code == 0 || !strings.Contains(stderr, "rate") {
		t.Errorf("a bad rate: exit %d, %s", code, stderr)
	}
	if _, stderr, code := p.cli("queues", "limits", "email", "--burst", "3"); code != exitUsage || !strings.Contains(stderr, "--burst needs --rate") {
		t.Errorf("--burst alone: exit %d, %s", code, stderr)
	}
	if _, stderr, code := p.cli("queues", "limits", "nosuch"); code != exitNotFound || !strings.Contains(stderr, `queue "nosuch" not found`) {
		t.Errorf("an unknown queue: exit %d, %s", code, stderr)
	}
}
