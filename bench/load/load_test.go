package load_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/bench/load"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// target is a test server that counts what it receives.
type target struct {
	srv      *httptest.Server
	requests atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64

	mu       sync.Mutex
	arrivals []time.Time
	bodies   map[string]int
}

// setup starts a server that answers every request with handle (202 when
// handle is nil) after recording it.
func setup(t *testing.T, handle func(n int64, w http.ResponseWriter)) *target {
	t.Helper()
	tg := &target{bodies: make(map[string]int)}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		n := tg.requests.Add(1)
		in := tg.inFlight.Add(1)
		defer tg.inFlight.Add(-1)
		for {
			m := tg.maxIn.Load()
			if in <= m || tg.maxIn.CompareAndSwap(m, in) {
				break
			}
		}
		body, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.arrivals = append(tg.arrivals, now)
		tg.bodies[r.Method+" "+r.Header.Get("Content-Type")+" "+string(body)]++
		tg.mu.Unlock()
		if handle == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		handle(n, w)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// checkLatency checks that the percentiles of l are in order and agree
// with its count.
func checkLatency(t *testing.T, name string, l *load.Latency, count int64) {
	t.Helper()
	if l.Count != count {
		t.Errorf("%s: count %d, want %d", name, l.Count, count)
	}
	ps := []time.Duration{l.P50, l.P90, l.P99, l.P999, l.Max}
	if !slices.IsSorted(ps) {
		t.Errorf("%s: percentiles out of order: p50 %v p90 %v p99 %v p99.9 %v max %v", name, l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	if count > 0 && (l.P50 <= 0 || l.Mean <= 0 || l.Mean > l.Max) {
		t.Errorf("%s: p50 %v, mean %v, max %v", name, l.P50, l.Mean, l.Max)
	}
}

// checkAccounts checks what every result must satisfy.
func checkAccounts(t *testing.T, res *load.Result) {
	t.Helper()
	var answered int64
	for _, n := range res.Statuses {
		answered += n
	}
	if res.Requests != answered+res.Errors {
		t.Errorf("requests %d, want answered %d + errors %d", res.Requests, answered, res.Errors)
	}
	if got := res.Histogram.TotalCount(); got != res.Requests {
		t.Errorf("histogram holds %d latencies, want %d", got, res.Requests)
	}
	checkLatency(t, "latency", &res.Latency, res.Requests)
	if want := float64(res.OK()) / res.Elapsed.Seconds(); res.Throughput != want {
		t.Errorf("throughput %v, want %v", res.Throughput, want)
	}
	var inTimeline int64
	for i, tick := range res.Timeline {
		inTimeline += tick.Requests
		if tick.At != time.Duration(i)*load.TimelineStep || tick.Max > res.Latency.Max {
			t.Errorf("timeline[%d] = %+v (max latency %v)", i, tick, res.Latency.Max)
		}
	}
	if want := int((res.Duration + load.TimelineStep - 1) / load.TimelineStep); len(res.Timeline) != want {
		t.Errorf("%d ticks in the timeline, want %d", len(res.Timeline), want)
	}
	if inTimeline != res.Requests {
		t.Errorf("%d requests in the timeline, want %d", inTimeline, res.Requests)
	}
	if res.Dials < 1 || res.Dials > int64(res.Connections) {
		t.Errorf("%d connections opened for %d keep-alive connections", res.Dials, res.Connections)
	}
}

func TestClosedLoop(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Millisecond
	tg := setup(t, func(n int64, w http.ResponseWriter) {
		time.Sleep(delay)
		if n%7 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"x","state":"available"}`)
	})
	res, err := load.Run(t.Context(), &load.Config{
		URL:         tg.srv.URL + "/v1/jobs",
		Connections: 4,
		Duration:    time.Second,
		Warmup:      200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, res)
	if res.Mode != load.Closed || res.SendLag != nil || res.Scheduled != 0 || res.Elapsed != time.Second {
		t.Errorf("mode %q, send lag %v, scheduled %d, elapsed %v", res.Mode, res.SendLag, res.Scheduled, res.Elapsed)
	}
	if res.Errors != 0 {
		t.Errorf("%d errors: %q", res.Errors, res.ErrorSamples)
	}
	ok, unavailable := res.Statuses[http.StatusAccepted], res.Statuses[http.StatusServiceUnavailable]
	if ok == 0 || unavailable == 0 || len(res.Statuses) != 2 {
		t.Errorf("statuses %v, want 202 and 503", res.Statuses)
	}
	if res.OK() != ok {
		t.Errorf("OK() = %d, want %d", res.OK(), ok)
	}
	// Every request the server saw was either measured or not, none twice.
	if got := tg.requests.Load(); res.Requests+res.Unmeasured != got {
		t.Errorf("measured %d + unmeasured %d, the server saw %d", res.Requests, res.Unmeasured, got)
	}
	if res.Unmeasured == 0 {
		t.Error("nothing sent in the warm-up")
	}
	if m := tg.maxIn.Load(); m > 4 {
		t.Errorf("%d requests in flight at once on 4 connections", m)
	}
	// The server took at least delay for each: a lower bound, not a
	// performance assertion.
	if min := time.Duration(res.Histogram.Min()); min < delay {
		t.Errorf("fastest request %v, but the server sleeps %v", min, delay)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	want := "POST application/json " + string(load.DefaultBody())
	if len(tg.bodies) != 1 || tg.bodies[want] == 0 {
		t.Errorf("the server got %d kinds of request, want only %q", len(tg.bodies), want)
	}
}

func TestOpenLoopTimetable(t *testing.T) {
	t.Parallel()
	tg := setup(t, nil)
	const (
		rate   = 200
		warmup = 250 * time.Millisecond
	)
	interval := time.Second / rate
	before := time.Now()
	res, err := load.Run(t.Context(), &load.Config{
		URL:         tg.srv.URL,
		Connections: 4,
		Rate:        rate,
		Duration:    time.Second,
		Warmup:      warmup,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, res)
	if res.Mode != load.Open || res.Rate != rate {
		t.Errorf("mode %q at %v/s", res.Mode, res.Rate)
	}
	if res.Scheduled != rate || res.Unsent != 0 || res.Requests != rate || res.Errors != 0 {
		t.Errorf("scheduled %d, unsent %d, requests %d, errors %d; want %d scheduled and sent", res.Scheduled, res.Unsent, res.Requests, res.Errors, rate)
	}
	if res.Statuses[http.StatusAccepted] != rate {
		t.Errorf("statuses %v", res.Statuses)
	}
	if res.Unmeasured != int64(warmup/interval) {
		t.Errorf("%d unmeasured requests, want %d for the warm-up", res.Unmeasured, warmup/interval)
	}
	if res.SendLag == nil {
		t.Fatal("no send lag in an open loop")
	}
	checkLatency(t, "send lag", res.SendLag, res.Requests)
	if res.Elapsed < time.Second {
		t.Errorf("elapsed %v, shorter than the window", res.Elapsed)
	}

	// The timetable, seen from the server: every request of the warm-up
	// and the window arrived, none before its time.
	tg.mu.Lock()
	arrivals := slices.Clone(tg.arrivals)
	tg.mu.Unlock()
	if len(arrivals) != rate+int(warmup/interval) {
		t.Fatalf("the server got %d requests, want %d", len(arrivals), rate+int(warmup/interval))
	}
	slices.SortFunc(arrivals, time.Time.Compare)
	for k, at := range arrivals {
		if due := before.Add(time.Duration(k) * interval); at.Before(due) {
			t.Fatalf("request %d arrived %v before its time", k, due.Sub(at))
		}
	}
}

// TestOpenLoopChargesStalls checks that a stalled server is charged for
// the requests that should have been sent while it stalled: with one
// connection at 100/s, a 300 ms stall delays every request due in its
// first 200 ms by at least 100 ms, measured from their intended time.
func TestOpenLoopChargesStalls(t *testing.T) {
	t.Parallel()
	const stall = 300 * time.Millisecond
	tg := setup(t, func(n int64, w http.ResponseWriter) {
		if n == 40 {
			time.Sleep(stall)
		}
		w.WriteHeader(http.StatusAccepted)
	})
	res, err := load.Run(t.Context(), &load.Config{
		URL:         tg.srv.URL,
		Connections: 1,
		Rate:        100,
		Duration:    time.Second,
		Warmup:      -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, res)
	if res.Requests != 100 || res.Unmeasured != 0 || res.Unsent != 0 {
		t.Fatalf("requests %d, unmeasured %d, unsent %d; want 100, 0, 0", res.Requests, res.Unmeasured, res.Unsent)
	}
	var slow int64
	for _, bar := range res.Histogram.Distribution() {
		if bar.From >= int64(100*time.Millisecond) {
			slow += bar.Count
		}
	}
	if slow < 21 {
		t.Errorf("%d requests took 100ms or more from their intended time, want at least 21 (the stalled one and 20 due during the stall)", slow)
	}
	if slowest := res.Slowest(); slowest.Max < stall || slowest.At < 300*time.Millisecond || slowest.At > 500*time.Millisecond {
		t.Errorf("slowest tick %+v, want the stall's (request 40 is due at 390ms)", slowest)
	}
	if res.Latency.Max < stall {
		t.Errorf("max latency %v, shorter than the %v stall", res.Latency.Max, stall)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	// Nothing listens on a closed server's address.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res, err := load.Run(t.Context(), &load.Config{URL: url, Connections: 2, Duration: 200 * time.Millisecond, Warmup: -1, Rate: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 10 || res.Requests != 10 || res.OK() != 0 || res.Throughput != 0 || len(res.ErrorSamples) == 0 {
		t.Errorf("errors %d of %d requests, %d OK, throughput %v, samples %q; want 10 errors", res.Errors, res.Requests, res.OK(), res.Throughput, res.ErrorSamples)
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	tg := setup(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := load.Run(ctx, &load.Config{URL: tg.srv.URL, Duration: time.Hour})
	if err != context.Canceled || res == nil {
		t.Fatalf("Run = %v, %v; want a result and context.Canceled", res, err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg  load.Config
		want string
	}{
		{load.Config{}, "URL is required"},
		{load.Config{URL: "localhost:80"}, "want an http"},
		{load.Config{URL: "http://x", Connections: -1}, "Connections"},
		{load.Config{URL: "http://x", Rate: -1}, "Rate"},
		{load.Config{URL: "http://x", Rate: 0.5, Duration: time.Second}, "schedules no request"},
		{load.Config{URL: "http://x", Duration: -time.Second}, "Duration"},
		{load.Config{URL: "http://x", Timeout: -time.Second}, "Timeout"},
	}
	for _, c := range cases {
		_, err := load.Run(t.Context(), &c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v) = %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}

func TestBaseline(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(load.Baseline())
	t.Cleanup(srv.Close)
	ids := make(map[string]bool)
	for range 3 {
		resp, err := http.Post(srv.URL+"/v1/jobs", "application/json", strings.NewReader(string(load.DefaultBody())))
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ ID, State string }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusAccepted || out.State != "available" || out.ID == "" || ids[out.ID] {
			t.Fatalf("answer %d %+v (%v), want 202 with a new id", resp.StatusCode, out, err)
		}
		ids[out.ID] = true
	}
	srv.Client().CloseIdleConnections()
}

func TestDefaultBody(t *testing.T) {
	t.Parallel()
	var req struct {
		Kind string          `json:"kind"`
		Args json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(load.DefaultBody(), &req); err != nil {
		t.Fatal(err)
	}
	if req.Kind != load.Kind || len(req.Args) < 180 || len(req.Args) > 240 {
		t.Errorf("kind %q with %d bytes of args, want %q with about 200", req.Kind, len(req.Args), load.Kind)
	}
}
