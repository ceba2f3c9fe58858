// Command soak runs gantry serve for a long time (30 minutes by default)
// under steady HTTP load at half its capacity, with external workers, and
// checks that the process stays flat: its resident memory, goroutines,
// open files and data dir size each grow less than 5% over the last 20
// minutes. It writes the samples as CSV and a PNG plot of each metric
// (docs/img/soak-*.png), and exits 1 when a metric grew more. `make soak`
// runs it; docs/reliability.md has its figures.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type options struct {
	bin       string
	duration  time.Duration
	window    time.Duration
	sample    time.Duration
	retention time.Duration
	calibrate time.Duration
	rate      float64
	workers   int
	limit     float64
	img, out  string
}

func run() error {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/gantry", "the gantry binary to soak")
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "how long to run at the steady rate")
	flag.DurationVar(&o.window, "window", 20*time.Minute, "the last part of the run over which each metric must stay flat")
	flag.DurationVar(&o.retention, "retention", 5*time.Minute, "the server's --retention: shorter than the window, so that the store reaches its steady size")
	flag.DurationVar(&o.sample, "sample", 10*time.Second, "how often to sample the metrics")
	flag.DurationVar(&o.calibrate, "calibrate", 20*time.Second, "how long to measure capacity (as fast as the server goes) before the run")
	flag.Float64Var(&o.rate, "rate", 0, "jobs per second to enqueue; 0: half the capacity measured")
	flag.IntVar(&o.workers, "workers", 8, "external workers (each leases up to 16 jobs)")
	flag.Float64Var(&o.limit, "limit", 0.05, "the largest growth allowed over the window")
	flag.StringVar(&o.img, "img", "docs/img", "directory of the PNG plots")
	flag.StringVar(&o.out, "out", "bin/soak", "directory of the samples (CSV) and the server's log")
	flag.Parse()
	if o.window > o.duration {
		return errors.New("--window is longer than --duration")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, d := range []string{o.img, o.out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	srv, err := startServer(ctx, &o)
	if err != nil {
		return err
	}
	defer srv.stop()
	l := &load{base: srv.url, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}

	rate := o.rate
	if rate <= 0 {
		capacity, err := l.calibrate(ctx, o.calibrate, o.workers)
		if err != nil {
			return err
		}
		rate = capacity / 2
		fmt.Printf("capacity %.0f jobs/s over %v; soaking at %.0f jobs/s\n", capacity, o.calibrate, rate)
	}
	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { l.pace(runCtx, rate) })
	for range o.workers {
		wg.Go(func() { l.work(runCtx) })
	}
	samples := sampleUntil(runCtx, srv, l, o.sample)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return report(&o, samples, rate, l)
}

// server is the gantry serve process under soak.
type server struct {
	cmd  *exec.Cmd
	url  string
	data string
	done chan struct{}
}

func startServer(ctx context.Context, o *options) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	data, err := os.MkdirTemp("", "gantry-soak-")
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(o.out, "serve.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.bin, "serve", "--addr", addr, "--data-dir", data, "--log-format", "json", "--workers", "2", "--drain-delay", "0s", "--retention", o.retention.String())
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", o.bin, err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, data: data, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	for deadline := time.Now().Add(60 * time.Second); ; {
		if res, err := http.Get(s.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, errors.New("gantry serve exited at start; see " + filepath.Join(o.out, "serve.log"))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("gantry serve not ready after 60s")
		}
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = os.RemoveAll(s.data)
}

// load enqueues and works jobs through the HTTP API.
type load struct {
	base               string
	http               *http.Client
	enqueued, finished atomic.Int64
	errors             atomic.Int64
}

const kind, queue = "soak.work", "soak"

func (l *load) post(ctx context.Context, path string, body any, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := l.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", path, res.Status)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// enqueue posts a batch of n jobs.
func (l *load) enqueue(ctx context.Context, n int) {
	jobs := make([]map[string]any, n)
	for i := range jobs {
		jobs[i] = map[string]any{"kind": kind, "queue": queue, "args": map[string]any{"n": i, "pad": "0123456789abcdef0123456789abcdef"}}
	}
	if err := l.post(ctx, "/v1/jobs/batch", map[string]any{"jobs": jobs}, nil); err != nil {
		if ctx.Err() == nil {
			l.errors.Add(1)
		}
		return
	}
	l.enqueued.Add(int64(n))
}

// work leases jobs and completes each until ctx ends.
func (l *load) work(ctx context.Context) {
	for ctx.Err() == nil {
		var out struct {
			Jobs []struct {
				ID    string `json:"id"`
				Token string `json:"lease_token"`
			} `json:"jobs"`
		}
		if err := l.post(ctx, "/v1/queues/"+queue+"/lease", map[string]any{"max": 16, "wait": "1s", "lease": "30s"}, &out); err != nil {
			if ctx.Err() == nil {
				l.errors.Add(1)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		for _, j := range out.Jobs {
			if err := l.post(ctx, "/v1/jobs/"+j.ID+"/complete", map[string]any{"lease_token": j.Token, "result": map[string]any{"ok": true}}, nil); err != nil {
				if ctx.Err() == nil {
					l.errors.Add(1)
				}
				continue
			}
			l.finished.Add(1)
		}
	}
}

// calibrate runs enqueuers and workers as fast as they go for d and
// returns the jobs finished per second.
func (l *load) calibrate(ctx context.Context, d time.Duration, workers int) (float64, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for cctx.Err() == nil {
				if l.enqueued.Load()-l.finished.Load() > 20000 {
					time.Sleep(10 * time.Millisecond) // keep the backlog bounded
					continue
				}
				l.enqueue(cctx, 50)
			}
		})
	}
	for range workers {
		wg.Go(func() { l.work(cctx) })
	}
	start := l.finished.Load()
	began := time.Now()
	wg.Wait()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	n := l.finished.Load() - start
	if n == 0 {
		return 0, errors.New("no job finished while measuring capacity")
	}
	return float64(n) / time.Since(began).Seconds(), nil
}

// pace enqueues rate jobs per second, in batches of ten, until ctx ends.
func (l *load) pace(ctx context.Context, rate float64) {
	const batch = 10
	every := time.Duration(float64(time.Second) * batch / rate)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.enqueue(ctx, batch)
		}
	}
}

// sample is one reading of the process.
type sample struct {
	at                     time.Duration
	rss, goroutines, files float64
	storeBytes             float64
	enqueued, finished     int64
}

var metricNames = []string{"rss_bytes", "goroutines", "open_files", "store_bytes"}

func (s sample) values() []float64 { return []float64{s.rss, s.goroutines, s.files, s.storeBytes} }

func sampleUntil(ctx context.Context, srv *server, l *load, every time.Duration) []sample {
	began := time.Now()
	var out []sample
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s := sample{at: time.Since(began), enqueued: l.enqueued.Load(), finished: l.finished.Load()}
		pid := srv.cmd.Process.Pid
		s.rss = procStatus(pid, "VmRSS:") * 1024
		if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			s.files = float64(len(fds))
		}
		s.goroutines = scrape(srv.url, "go_goroutines")
		s.storeBytes = dirSize(filepath.Join(srv.data, "jobs"))
		out = append(out, s)
		fmt.Printf("%6.0fs rss %6.1f MiB, goroutines %4.0f, files %4.0f, store %7.1f MiB, enqueued %d, finished %d\n",
			s.at.Seconds(), s.rss/(1<<20), s.goroutines, s.files, s.storeBytes/(1<<20), s.enqueued, s.finished)
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
	}
}

// procStatus returns the number after key in /proc/pid/status (kB for
// memory).
func procStatus(pid int, key string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				n, _ := strconv.ParseFloat(fields[0], 64)
				return n
			}
		}
	}
	return 0
}

// scrape returns the value of an unlabelled metric from /metrics.
func scrape(base, name string) float64 {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return n
		}
	}
	return 0
}

func dirSize(dir string) float64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return float64(n)
}

// report writes the CSV and the plots and prints the verdict.
func report(o *options, samples []sample, rate float64, l *load) error {
	f, err := os.Create(filepath.Join(o.out, "samples.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(append(append([]string{"seconds"}, metricNames...), "enqueued", "finished"))
	xs := make([]float64, len(samples))
	series := make([][]float64, len(metricNames))
	for i, s := range samples {
		xs[i] = s.at.Seconds()
		row := []string{strconv.FormatFloat(xs[i], 'f', 0, 64)}
		for m, v := range s.values() {
			series[m] = append(series[m], v)
			row = append(row, strconv.FormatFloat(v, 'f', 0, 64))
		}
		_ = w.Write(append(row, strconv.FormatInt(s.enqueued, 10), strconv.FormatInt(s.finished, 10)))
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return err
	}
	windowStart := (o.duration - o.window).Seconds()
	last := samples[len(samples)-1]
	fmt.Printf("\nsoak: %v at %.0f jobs/s: %d enqueued, %d finished, %d request errors\n",
		o.duration, rate, last.enqueued, last.finished, l.errors.Load())
	failed := false
	for m, name := range metricNames {
		g := growth(xs, series[m], windowStart)
		ok := g < o.limit
		failed = failed || !ok || math.IsNaN(g)
		verdict := "flat"
		if !ok {
			verdict = "GROWS"
		}
		fmt.Printf("  %-12s growth over the last %v: %+.1f%% (%s); at the end %.0f\n", name, o.window, 100*g, verdict, series[m][len(series[m])-1])
		pf, err := os.Create(filepath.Join(o.img, "soak-"+strings.ReplaceAll(name, "_", "-")+".png"))
		if err != nil {
			return err
		}
		err = drawPlot(pf, xs, series[m], windowStart)
		if cerr := pf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	fmt.Printf("  plots in %s/soak-*.png, samples in %s/samples.csv\n", o.img, o.out)
	if failed {
		return fmt.Errorf("a metric grew %.0f%% or more over the last %v", 100*o.limit, o.window)
	}
	return nil
}
