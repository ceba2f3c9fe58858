package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the harness's child process: the
// harness re-executes itself (os.Executable) with -child SPEC.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-child" {
		os.Exit(childMain(os.Args[2]))
	}
	os.Exit(m.Run())
}

// tinySizes keep the smoke pass to a few seconds a row.
var tinySizes = sizes{
	Warmup:     50 * time.Millisecond,
	EnqueueFor: 200 * time.Millisecond,
	BatchFor:   200 * time.Millisecond,
	E2EJobs:    300,
	E2ECap:     10 * time.Second,
	SleepJobs:  200,
	SleepCap:   10 * time.Second,
	PickupN:    3,
	PickupCap:  5 * time.Second,
	BacklogN:   1000,
	BacklogCap: 20 * time.Second,
	SeedRate:   500,
	SeedFor:    300 * time.Millisecond,
	SeedWarmup: 100 * time.Millisecond,
	SeedConns:  8,
}

// TestSmoke runs every row once at tiny sizes, on every system whose
// server is reachable (the others are skipped with a message), and checks
// that every run succeeded and the report files were written.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("the smoke pass starts child processes and servers")
	}
	out := t.TempDir()
	o := &options{
		quick:   true,
		runs:    1,
		out:     out,
		pg:      envOr("PEERS_PG", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
		redis:   envOr("PEERS_REDIS", "127.0.0.1:6379"),
		redisDB: 13,
		repo:    "../..",
		sizes:   &tinySizes,
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := run(ctx, o, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	t.Log(log.String())

	b, err := os.ReadFile(filepath.Join(out, "runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, r := range rep.Results {
		ran[r.Row+"/"+r.System] = true
		if r.Err != "" {
			t.Errorf("%s/%s: %s", r.Row, r.System, r.Err)
		}
	}
	for _, want := range []string{"enqueue/gantry", "batch/gantry", "e2e/gantry", "sleep/gantry", "pickup/gantry",
		"backlog/gantry", "seed/gantry-http", "seed/seed-goroutine", "seed/seed-channel", "seed/seed-pool"} {
		if !ran[want] {
			t.Errorf("%s did not run", want)
		}
	}
	for _, f := range []string{"results.md", "peers-throughput.png", "peers-pickup.png", "peers-seed-latency.png", "peers-seed-rss.png"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestMatchOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		only      []string
		row, sys  string
		wantMatch bool
	}{
		{nil, rowE2E, "river-best", true},
		{[]string{"e2e"}, rowE2E, "river-best", true},
		{[]string{"e2e"}, rowBatch, "river-default", false},
		{[]string{"river"}, rowBatch, "river-default", true},
		{[]string{"river"}, rowBatch, "gantry", false},
		{[]string{"e2e", "asynq"}, rowE2E, "asynq-aof", true},
		{[]string{"e2e", "asynq-best"}, rowE2E, "asynq-aof", false},
		{[]string{"seed"}, rowSeed, "seed-pool", true},
	}
	for _, c := range cases {
		if got := matchOnly(c.only, c.row, c.sys); got != c.wantMatch {
			t.Errorf("matchOnly(%v, %s, %s) = %v, want %v", c.only, c.row, c.sys, got, c.wantMatch)
		}
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3 = %v, want 2", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4 = %v, want 2.5", m)
	}
}
