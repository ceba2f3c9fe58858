package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/bench/load"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

// TestBenchHTTP runs httpbench briefly at low load with its
// in-process servers and checks the accounting: every 202 it counted is a
// job in the store, the runs and targets are all there, percentiles are in
// order and the open loop kept its timetable.
func TestBenchHTTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stdout, stderr, code := runInProcess(t, nil, "--json", "--data-dir", dir,
		"--connections", "4", "--duration", "1s", "--warmup", "200ms", "--rate", "200")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if !rep.Gantry.Durable || !rep.Gantry.InProcess || rep.Gantry.DataDir != dir || rep.Baseline == nil {
		t.Errorf("servers %+v, baseline %+v", rep.Gantry, rep.Baseline)
	}
	if rep.Machine.CPUs < 1 || rep.Machine.Go == "" || rep.Settings.Kind != load.Kind {
		t.Errorf("machine %+v, settings %+v", rep.Machine, rep.Settings)
	}
	names := make([]string, len(rep.Runs))
	for i, r := range rep.Runs {
		names[i] = r.Name
	}
	if want := []string{"baseline closed", "gantry closed", "gantry open"}; !slices.Equal(names, want) {
		t.Fatalf("runs %q, want %q", names, want)
	}

	var accepted int64
	for _, r := range rep.Runs {
		l := r.Latency
		if r.Requests == 0 || r.Errors != 0 || r.Statuses[http.StatusAccepted] != r.Requests {
			t.Errorf("%s: %d requests, %d errors, statuses %v; want only 202s", r.Name, r.Requests, r.Errors, r.Statuses)
		}
		if !slices.IsSorted([]time.Duration{l.P50, l.P90, l.P99, l.P999, l.Max}) || l.P50 <= 0 || l.Count != r.Requests {
			t.Errorf("%s: latency %+v for %d requests", r.Name, l, r.Requests)
		}
		if r.Connections != 4 || r.Dials > 4 || r.Runtime == nil {
			t.Errorf("%s: %d connections, %d dials, runtime %v", r.Name, r.Connections, r.Dials, r.Runtime)
		}
		if r.Server == "gantry" {
			// Unmeasured requests (warm-up, late) were enqueued too.
			accepted += r.Requests + r.Unmeasured
		}
	}
	open := rep.Runs[2]
	if open.Mode != load.Open || open.Rate != 200 || open.Scheduled != 200 || open.Requests != 200 || open.Unsent != 0 || open.Unmeasured != 40 {
		t.Errorf("open loop: mode %s at %v/s, %d scheduled, %d measured, %d unsent, %d in the warm-up; want 200, 200, 0, 40",
			open.Mode, open.Rate, open.Scheduled, open.Requests, open.Unsent, open.Unmeasured)
	}
	if wantRatio := rep.Runs[1].Throughput / rep.Runs[0].Throughput; rep.Ratio != wantRatio {
		t.Errorf("ratio %v, want %v", rep.Ratio, wantRatio)
	}
	if len(rep.Targets) != 3 {
		t.Errorf("targets %+v, want 3", rep.Targets)
	}
	for _, tg := range rep.Targets {
		if !strings.Contains(tg.Note, "connections") && !strings.Contains(tg.Note, "10,000/s") && tg.Name != "gantry/baseline, same run" {
			t.Errorf("target %q without a note that its settings are not the documented ones: %q", tg.Name, tg.Note)
		}
	}

	// Every 202 is a durable job: the store, reopened, holds them all.
	st, err := embedded.Open(dir+"/jobs", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	queues, err := st.Queues(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var available int64
	for _, q := range queues {
		available += q.Counts[store.StateAvailable]
	}
	if available != accepted {
		t.Errorf("the store holds %d available jobs, the generator counted %d accepted", available, accepted)
	}
}

// TestBenchHTTPTarget measures a server given by --target, without the
// baseline and the open loop, and prints the table.
func TestBenchHTTPTarget(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/jobs" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		if a := r.Header.Get("Authorization"); !slices.Contains(auth, a) {
			auth = append(auth, a)
		}
		mu.Unlock()
		load.Baseline().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	stdout, stderr, code := runInProcess(t, map[string]string{"GANTRY_TOKEN": "s3cret"},
		"--target", srv.URL, "--baseline=false", "--rate", "0", "--connections", "2", "--duration", "300ms", "--warmup", "0s")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"gantry closed", "REQ/S", "202 x ", "durable enqueues/s, closed loop", srv.URL + "/v1/jobs"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	for _, unwanted := range []string{"baseline closed", "gantry open", "gantry/baseline"} {
		if strings.Contains(stdout, unwanted) {
			t.Errorf("%q in\n%s", unwanted, stdout)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(auth, []string{"Bearer s3cret"}) {
		t.Errorf("the server saw Authorization %q", auth)
	}
}

func TestBenchHTTPUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--connections", "0"}, "--connections"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--warmup", "-1s"}, "--warmup"},
		{[]string{"--rate", "-5"}, "--rate"},
		{[]string{"--rate", "0.5", "--duration", "1s"}, "schedules no request"},
		{[]string{"--target", "ftp://x"}, "--target"},
		{[]string{"--target", "http://x", "--data-dir", "d"}, "--data-dir"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, c := range cases {
		_, stderr, code := runInProcess(t, nil, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("httpbench %q: exit %d, %q; want exit %d mentioning %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
	stdout, _, code := runInProcess(t, nil, "--help")
	if code != exitOK || !strings.Contains(stdout, "--cpuprofile FILE") || !strings.Contains(stdout, "fsyncs the job") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
}
