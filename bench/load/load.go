package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Defaults of Config.
const (
	// DefaultConnections is the default of Config.Connections.
	DefaultConnections = 64
	// DefaultDuration is the default of Config.Duration.
	DefaultDuration = 10 * time.Second
	// DefaultWarmup is the default of Config.Warmup.
	DefaultWarmup = 2 * time.Second
	// DefaultTimeout is the default of Config.Timeout.
	DefaultTimeout = 10 * time.Second
	// DefaultMethod is the default of Config.Method.
	DefaultMethod = http.MethodPost
	// DefaultContentType is the Content-Type sent when Config.Header has
	// none.
	DefaultContentType = "application/json"
)

// MaxLatency is the largest latency the histograms tell apart; longer ones
// are recorded as MaxLatency. Latencies are kept to 3 significant digits
// from 1µs up.
const MaxLatency = time.Minute

// maxErrorSamples is how many distinct error messages a Result keeps.
const maxErrorSamples = 5

// TimelineStep is the width of a bucket of Result.Timeline.
const TimelineStep = 100 * time.Millisecond

// Config configures a Run. Only URL is required.
type Config struct {
	// URL receives every request. Required; http or https.
	URL string
	// Method of every request. Default DefaultMethod.
	Method string
	// Body is sent with every request. Nil: DefaultBody(). Set it to an
	// empty slice to send none.
	Body []byte
	// Header is sent with every request; it is not modified. Without a
	// Content-Type, DefaultContentType is sent.
	Header http.Header

	// Connections is how many keep-alive connections the generator opens,
	// each with a goroutine that sends on it. Default DefaultConnections.
	Connections int
	// Rate, when positive, makes the run open-loop: Rate requests per
	// second on a fixed timetable, latency measured from each request's
	// intended send time. Zero: closed loop, every connection sending back
	// to back.
	Rate float64
	// Duration is the measured window. Default DefaultDuration.
	Duration time.Duration
	// Warmup runs the same load before the measured window, without
	// recording it: connections are opened, caches and the heap grow.
	// Default DefaultWarmup; negative: none.
	Warmup time.Duration
	// Timeout bounds each request until its response headers arrive, and
	// how long an open-loop run that fell behind may go on after its
	// window. Default DefaultTimeout.
	Timeout time.Duration
}

func (c *Config) withDefaults() Config {
	cfg := *c
	if cfg.Method == "" {
		cfg.Method = DefaultMethod
	}
	if cfg.Body == nil {
		cfg.Body = DefaultBody()
	}
	if cfg.Connections == 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	switch {
	case cfg.Warmup == 0:
		cfg.Warmup = DefaultWarmup
	case cfg.Warmup < 0:
		cfg.Warmup = 0
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	h := cfg.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if h.Get("Content-Type") == "" && len(cfg.Body) > 0 {
		h.Set("Content-Type", DefaultContentType)
	}
	cfg.Header = h
	return cfg
}

func (c *Config) validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("load: Config.URL is required")
	case err != nil:
		return fmt.Errorf("load: Config.URL: %w", err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("load: Config.URL %q: want an http:// or https:// URL", c.URL)
	case c.Connections < 1:
		return fmt.Errorf("load: Connections %d must be positive", c.Connections)
	case c.Rate < 0:
		return fmt.Errorf("load: Rate %v must not be negative", c.Rate)
	case c.Duration < 0:
		return fmt.Errorf("load: Duration %v must be positive", c.Duration)
	case c.Rate > 0 && c.Rate*c.Duration.Seconds() < 1:
		return fmt.Errorf("load: Rate %v schedules no request in Duration %v", c.Rate, c.Duration)
	case c.Timeout < 0:
		return fmt.Errorf("load: Timeout %v must be positive", c.Timeout)
	}
	return nil
}

// Mode is how a run sends its requests.
type Mode string

// The modes.
const (
	Closed Mode = "closed"
	Open   Mode = "open"
)

// Latency summarises a latency histogram.
type Latency struct {
	// Count is the number of latencies recorded.
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p99_9_ns"`
	Max   time.Duration `json:"max_ns"`
}

func summarise(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count: h.TotalCount(),
		Mean:  time.Duration(h.Mean()),
		P50:   time.Duration(h.ValueAtQuantile(50)),
		P90:   time.Duration(h.ValueAtQuantile(90)),
		P99:   time.Duration(h.ValueAtQuantile(99)),
		P999:  time.Duration(h.ValueAtQuantile(99.9)),
		Max:   time.Duration(h.Max()),
	}
}

// Result is what a run measured. Counts cover the measured window only.
type Result struct {
	Mode        Mode   `json:"mode"`
	URL         string `json:"url"`
	Connections int    `json:"connections"`
	// Rate is the open-loop rate asked for, requests per second.
	Rate     float64       `json:"rate,omitempty"`
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Elapsed is the time over which Throughput is computed: Duration, or
	// longer when an open-loop run went on after its window to send and
	// answer the requests it was behind on.
	Elapsed time.Duration `json:"elapsed_ns"`

	// Requests is the number of requests measured: answered (whatever the
	// status) or failed.
	Requests int64 `json:"requests"`
	// Statuses counts the answers by HTTP status.
	Statuses map[int]int64 `json:"statuses"`
	// Errors counts requests that got no answer (connection refused or
	// reset, timeout...). ErrorSamples are a few of their messages.
	Errors       int64    `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Throughput is the number of 2xx answers per second of Elapsed.
	Throughput float64 `json:"throughput"`
	// Latency is the latency of every measured request, failed ones
	// included: in a closed loop from sending to the end of the answer's
	// body; in an open loop from the intended send time.
	Latency Latency `json:"latency"`

	// Scheduled is, in an open loop, the number of requests the
	// timetable put in the measured window; all of them are in Requests
	// except Unsent, those that were never sent because the run gave up
	// Config.Timeout after its window.
	Scheduled int64 `json:"scheduled,omitempty"`
	Unsent    int64 `json:"unsent,omitempty"`
	// SendLag is, in an open loop, how late requests were sent against
	// the timetable. Nil in a closed loop.
	SendLag *Latency `json:"send_lag,omitempty"`

	// Unmeasured is the number of requests sent but not measured: during
	// the warm-up or, in a closed loop, answered after the window.
	Unmeasured int64 `json:"unmeasured"`

	// Dials is the number of connections opened, warm-up included: at most
	// Connections when keep-alive holds.
	Dials int64 `json:"dials"`
	// CPU is the CPU time (user and system) this process used during the
	// measured window, on Linux; zero elsewhere. With the server in the
	// same process it includes the server's.
	CPU time.Duration `json:"cpu_ns,omitempty"`
	// MachineCPU is the CPU time every process of the machine used during
	// the measured window, this one included, on Linux; zero elsewhere.
	// MachineCPU - CPU is what competed with the run.
	MachineCPU time.Duration `json:"machine_cpu_ns,omitempty"`

	// Timeline splits the measured window into TimelineStep buckets, by
	// completion time in a closed loop and by intended send time in an
	// open loop: it shows when a server stalled.
	Timeline []Tick `json:"timeline"`

	// Histogram holds every latency of Latency, in nanoseconds.
	Histogram *hdrhistogram.Histogram `json:"-"`
}

// Tick is one bucket of a Result's Timeline.
type Tick struct {
	// At is the start of the bucket, from the start of the window.
	At       time.Duration `json:"at_ns"`
	Requests int64         `json:"requests"`
	// Max is the longest latency in the bucket.
	Max time.Duration `json:"max_ns"`
}

// Slowest returns the Tick with the longest Max, the zero Tick for an
// empty Timeline.
func (r *Result) Slowest() Tick {
	var t Tick
	for _, x := range r.Timeline {
		if x.Max > t.Max {
			t = x
		}
	}
	return t
}

// OK returns the number of 2xx answers.
func (r *Result) OK() int64 {
	var n int64
	for code, c := range r.Statuses {
		if code >= 200 && code < 300 {
			n += c
		}
	}
	return n
}

// NewTransport returns the transport a run uses: up to conns keep-alive
// HTTP/1.1 connections to one host, kept open between requests, without
// compression or proxies, with timeout until the response headers.
func NewTransport(conns int, timeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		TLSHandshakeTimeout:   timeout,
		DisableCompression:    true,
	}
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(int64(time.Microsecond), int64(MaxLatency), 3)
}

// recorder is one sending goroutine's tallies, merged at the end.
type recorder struct {
	lat      *hdrhistogram.Histogram
	lag      *hdrhistogram.Histogram // open loop only
	statuses map[int]int64
	errors   int64
	samples  []string
	last     time.Time // the latest completion recorded
	skipped  int64     // sent but not measured
	ticks    []Tick
}

func newRecorder(open bool, window time.Duration) *recorder {
	n := int((window + TimelineStep - 1) / TimelineStep)
	r := &recorder{lat: newHistogram(), statuses: make(map[int]int64), ticks: make([]Tick, n)}
	if open {
		r.lag = newHistogram()
	}
	return r
}

func record(h *hdrhistogram.Histogram, d time.Duration) {
	v := int64(max(d, 0))
	if v > int64(MaxLatency) {
		v = int64(MaxLatency)
	}
	// Within the histogram's range by construction.
	_ = h.RecordValue(v)
}

// add records a request; at is its time in the window, for the timeline.
func (r *recorder) add(status int, err error, latency, at time.Duration, done time.Time) {
	record(r.lat, latency)
	if i := int(at / TimelineStep); i >= 0 && i < len(r.ticks) {
		t := &r.ticks[i]
		t.Requests++
		t.Max = max(t.Max, latency)
	}
	if err != nil {
		r.errors++
		if len(r.samples) < maxErrorSamples {
			r.samples = append(r.samples, err.Error())
		}
	} else {
		r.statuses[status]++
	}
	if done.After(r.last) {
		r.last = done
	}
}

// runner is one run in progress.
type runner struct {
	cfg    Config
	client *http.Client
	dials  atomic.Int64

	start        time.Time // the warm-up begins
	measureStart time.Time // the measured window begins
	end          time.Time // and ends
}

// Run sends load as cfg says and returns what it measured. It returns an
// error for a bad cfg, or with what was measured so far when ctx ends
// first. Requests that fail are counted, not returned as errors.
func Run(ctx context.Context, cfg *Config) (*Result, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: c}
	tr := NewTransport(c.Connections, c.Timeout)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		r.dials.Add(1)
		return dial(ctx, network, addr)
	}
	defer tr.CloseIdleConnections()
	r.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}

	r.start = time.Now()
	r.measureStart = r.start.Add(c.Warmup)
	r.end = r.measureStart.Add(c.Duration)
	open := c.Rate > 0
	recs := make([]*recorder, c.Connections)
	for i := range recs {
		recs[i] = newRecorder(open, c.Duration)
	}

	var cpu cpuMeter
	var wg sync.WaitGroup
	wg.Go(func() { cpu.measure(ctx, r.measureStart, r.end) })
	var sched schedule
	if open {
		slots := make(chan time.Time)
		wg.Go(func() { sched = r.pace(ctx, slots) })
		for _, rec := range recs {
			wg.Go(func() { r.openLoop(ctx, rec, slots) })
		}
	} else {
		for _, rec := range recs {
			wg.Go(func() { r.closedLoop(ctx, rec) })
		}
	}
	wg.Wait()

	res := r.result(recs, sched)
	res.CPU, res.MachineCPU = cpu.used, cpu.machine
	return res, ctx.Err()
}

// do sends one request and reads its answer to the end.
func (r *runner) do(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, r.cfg.Method, r.cfg.URL, bytes.NewReader(r.cfg.Body))
	if err != nil {
		return 0, err
	}
	// Shared by every request: the client only reads it.
	req.Header = r.cfg.Header
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, nil
}

// closedLoop sends back to back until the window ends, recording the
// requests that complete inside it.
func (r *runner) closedLoop(ctx context.Context, rec *recorder) {
	for ctx.Err() == nil {
		start := time.Now()
		if !start.Before(r.end) {
			return
		}
		status, err := r.do(ctx)
		done := time.Now()
		if ctx.Err() != nil {
			return
		}
		if !done.Before(r.end) {
			rec.skipped++
			return
		}
		if done.Before(r.measureStart) {
			rec.skipped++
			continue
		}
		rec.add(status, err, done.Sub(start), done.Sub(r.measureStart), done)
	}
}

// openLoop sends the requests the pacer hands it, recording those
// intended for the measured window.
func (r *runner) openLoop(ctx context.Context, rec *recorder, slots <-chan time.Time) {
	for intended := range slots {
		sent := time.Now()
		status, err := r.do(ctx)
		done := time.Now()
		if ctx.Err() != nil {
			// The run was cancelled: this is not the server's doing.
			continue
		}
		if intended.Before(r.measureStart) {
			rec.skipped++
			continue
		}
		record(rec.lag, sent.Sub(intended))
		rec.add(status, err, done.Sub(intended), intended.Sub(r.measureStart), done)
	}
}

// schedule is what the pacer did in the measured window.
type schedule struct {
	scheduled, unsent int64
}

// pace hands out the intended send times of the timetable, from the start
// of the warm-up to the end of the window, as each comes (or at once when
// late), then closes slots. It gives up Config.Timeout after the window.
func (r *runner) pace(ctx context.Context, slots chan<- time.Time) schedule {
	defer close(slots)
	p := newPacer()
	defer p.close()
	var s schedule
	interval := float64(time.Second) / r.cfg.Rate
	giveUp := r.end.Add(r.cfg.Timeout)
	for i := int64(0); ; i++ {
		t := r.start.Add(time.Duration(float64(i) * interval))
		if !t.Before(r.end) {
			return s
		}
		measured := !t.Before(r.measureStart)
		if measured {
			s.scheduled++
		}
		if time.Now().After(giveUp) || ctx.Err() != nil {
			if measured {
				s.unsent++
			}
			continue
		}
		p.sleepUntil(t)
		select {
		case slots <- t:
		case <-ctx.Done():
			if measured {
				s.unsent++
			}
		}
	}
}

func (r *runner) result(recs []*recorder, sched schedule) *Result {
	res := &Result{
		Mode:        Closed,
		URL:         r.cfg.URL,
		Connections: r.cfg.Connections,
		Warmup:      r.cfg.Warmup,
		Duration:    r.cfg.Duration,
		Elapsed:     r.cfg.Duration,
		Statuses:    make(map[int]int64),
		Dials:       r.dials.Load(),
		Histogram:   newHistogram(),
		Timeline:    make([]Tick, len(recs[0].ticks)),
	}
	for i := range res.Timeline {
		res.Timeline[i].At = time.Duration(i) * TimelineStep
	}
	var lag *hdrhistogram.Histogram
	if r.cfg.Rate > 0 {
		res.Mode = Open
		res.Rate = r.cfg.Rate
		res.Scheduled, res.Unsent = sched.scheduled, sched.unsent
		lag = newHistogram()
	}
	seen := make(map[string]bool)
	var last time.Time
	for _, rec := range recs {
		res.Histogram.Merge(rec.lat)
		if lag != nil {
			lag.Merge(rec.lag)
		}
		for code, n := range rec.statuses {
			res.Statuses[code] += n
			res.Requests += n
		}
		for i, t := range rec.ticks {
			res.Timeline[i].Requests += t.Requests
			res.Timeline[i].Max = max(res.Timeline[i].Max, t.Max)
		}
		res.Errors += rec.errors
		res.Requests += rec.errors
		res.Unmeasured += rec.skipped
		for _, s := range rec.samples {
			if !seen[s] && len(res.ErrorSamples) < maxErrorSamples {
				seen[s] = true
				res.ErrorSamples = append(res.ErrorSamples, s)
			}
		}
		if rec.last.After(last) {
			last = rec.last
		}
	}
	sort.Strings(res.ErrorSamples)
	if d := last.Sub(r.measureStart); res.Mode == Open && d > res.Elapsed {
		res.Elapsed = d
	}
	res.Latency = summarise(res.Histogram)
	if lag != nil {
		l := summarise(lag)
		res.SendLag = &l
	}
	res.Throughput = float64(res.OK()) / res.Elapsed.Seconds()
	return res
}
