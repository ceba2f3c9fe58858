// Command leaseworker is the external worker of the multi-node process
// test (TestMultiNode): it leases jobs from one gantry serve node over the
// HTTP worker protocol, heartbeats and completes them, and reports every
// event on stdout, one tab-separated line each:
//
//	lease  ID ATTEMPT TOKEN STARTED_AT LEASE_EXPIRES_AT
//	beat   ID ATTEMPT LEASE_EXPIRES_AT
//	done   ID ATTEMPT completed|lost
//	holding                        (after "hold" on stdin: see below)
//	error  MESSAGE
//
// Times are the server's. It stops when its node goes away (503 draining,
// connection refused) or when stdin says "stop" or closes. After "hold" on
// stdin, the next worker goroutine that leases jobs reports them, prints
// "holding" and keeps them without working, so that the node can be killed
// while this worker holds leases.
//
// It is built without the race detector so that the test's workers cost
// what a real worker costs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	url        string
	fast, slow int
	leaseMax   int
	fastLease  time.Duration
	slowLease  time.Duration
	slowHold   time.Duration
	slowBeat   time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "", "the node's base URL")
	flag.IntVar(&c.fast, "fast", 4, "workers of kind mn.fast")
	flag.IntVar(&c.slow, "slow", 2, "workers of kind mn.slow")
	flag.IntVar(&c.leaseMax, "lease-max", 50, "jobs per lease of mn.fast")
	flag.DurationVar(&c.fastLease, "fast-lease", 2*time.Second, "lease of mn.fast jobs")
	flag.DurationVar(&c.slowLease, "slow-lease", 2*time.Second, "lease of mn.slow jobs")
	flag.DurationVar(&c.slowHold, "slow-hold", 2500*time.Millisecond, "how long an mn.slow job is held")
	flag.DurationVar(&c.slowBeat, "slow-beat", 500*time.Millisecond, "heartbeat interval of mn.slow jobs")
	flag.Parse()

	w := &worker{cfg: c, hc: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
		Timeout:   2 * time.Minute,
	}}
	var stop context.CancelFunc
	w.ctx, stop = context.WithCancel(context.Background())
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "hold" {
				w.hold.Store(true)
				continue
			}
			break
		}
		stop()
	}()
	var wg sync.WaitGroup
	for range c.fast {
		wg.Go(func() { w.loop("mn.fast", c.leaseMax, c.fastLease) })
	}
	for range c.slow {
		wg.Go(func() { w.loop("mn.slow", 1, c.slowLease) })
	}
	wg.Wait()
}

type worker struct {
	cfg  config
	hc   *http.Client
	ctx  context.Context // ends on "stop" or when stdin closes
	hold atomic.Bool
	held atomic.Bool
	out  sync.Mutex
	// gone is set once the node refused us for good.
	gone atomic.Bool
}

// emit writes one event line; each is one write, so that a kill loses at
// most the line being written.
func (w *worker) emit(fields ...string) {
	line := strings.Join(fields, "\t") + "\n"
	w.out.Lock()
	defer w.out.Unlock()
	_, _ = os.Stdout.WriteString(line)
}

type job struct {
	ID             string `json:"id"`
	Kind           string `json:"kind"`
	Attempt        int    `json:"attempt"`
	StartedAt      string `json:"started_at"`
	LeaseToken     string `json:"lease_token"`
	LeaseExpiresAt string `json:"lease_expires_at"`
	expires        time.Time
}

// errGone: the node went away (it drains, or nothing listens any more).
var errGone = errors.New("node gone")

func (w *worker) post(path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(w.ctx), http.MethodPost, w.cfg.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := w.hc.Do(req)
	if err != nil {
		// Once the node drains, its listener closes: any error then means
		// it went away.
		if w.gone.Load() || errors.Is(err, syscall.ECONNREFUSED) {
			w.gone.Store(true)
			return 0, nil, errGone
		}
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	if res.StatusCode == http.StatusServiceUnavailable && bytes.Contains(data, []byte(`"draining"`)) {
		w.gone.Store(true)
		return res.StatusCode, data, errGone
	}
	return res.StatusCode, data, nil
}

// loop leases jobs of kind and works them until stopped or the node goes
// away.
func (w *worker) loop(kind string, maxJobs int, lease time.Duration) {
	leaseReq := fmt.Appendf(nil, `{"max":%d,"lease":%q,"wait":"1s","kinds":[%q]}`, maxJobs, lease.String(), kind)
	for w.ctx.Err() == nil && !w.gone.Load() {
		status, body, err := w.post("/v1/queues/default/lease", leaseReq)
		if err != nil {
			if !errors.Is(err, errGone) {
				w.emit("error", "lease: "+err.Error())
			}
			return
		}
		if status != http.StatusOK {
			w.emit("error", fmt.Sprintf("lease: %d %s", status, body))
			return
		}
		var lr struct{ Jobs []*job }
		if err := json.Unmarshal(body, &lr); err != nil {
			w.emit("error", "lease answer: "+err.Error())
			return
		}
		for _, j := range lr.Jobs {
			if j.Kind != kind {
				w.emit("error", "leased a "+j.Kind+" job asking for "+kind)
			}
			j.expires, err = time.Parse(time.RFC3339Nano, j.LeaseExpiresAt)
			if err != nil {
				w.emit("error", "lease_expires_at: "+err.Error())
			}
			w.emit("lease", j.ID, strconv.Itoa(j.Attempt), j.LeaseToken, j.StartedAt, j.LeaseExpiresAt)
		}
		if len(lr.Jobs) > 0 && w.hold.Load() && w.held.CompareAndSwap(false, true) {
			w.emit("holding")
			<-w.ctx.Done() // the node and this process are killed meanwhile
			return
		}
		for i, j := range lr.Jobs {
			if !w.work(j, lr.Jobs[i+1:], lease, kind == "mn.slow") {
				return
			}
		}
	}
}

// work holds a slow job with heartbeats, extends the leases of the batch
// when a third of them passed, and completes the job. It reports false
// when the worker must stop.
func (w *worker) work(j *job, rest []*job, lease time.Duration, slow bool) bool {
	if slow {
		hold := time.NewTimer(w.cfg.slowHold)
		defer hold.Stop()
		beat := time.NewTicker(w.cfg.slowBeat)
		defer beat.Stop()
	holding:
		for {
			select {
			case <-hold.C:
				break holding
			case <-beat.C:
				if ok, stop := w.heartbeat(j, lease); stop {
					return false
				} else if !ok {
					return true
				}
			}
		}
	}
	for _, o := range append([]*job{j}, rest...) {
		if o.LeaseToken != "" && time.Until(o.expires) < lease*2/3 {
			if _, stop := w.heartbeat(o, lease); stop {
				return false
			}
		}
	}
	if j.LeaseToken == "" {
		return true // lost in a heartbeat
	}
	status, body, err := w.post("/v1/jobs/"+j.ID+"/complete", fmt.Appendf(nil, `{"lease_token":%q,"result":{"ok":true}}`, j.LeaseToken))
	switch {
	case err != nil:
		if !errors.Is(err, errGone) {
			w.emit("error", "complete: "+err.Error())
		}
		return false
	case status == http.StatusOK:
		w.emit("done", j.ID, strconv.Itoa(j.Attempt), "completed")
	case status == http.StatusConflict:
		w.emit("done", j.ID, strconv.Itoa(j.Attempt), "lost")
	default:
		w.emit("error", fmt.Sprintf("complete %s: %d %s", j.ID, status, body))
		return false
	}
	return true
}

// heartbeat extends j's lease. ok is false when the lease was lost (j's
// token is then cleared); stop is true when the worker must stop.
func (w *worker) heartbeat(j *job, lease time.Duration) (ok, stop bool) {
	status, body, err := w.post("/v1/jobs/"+j.ID+"/heartbeat", fmt.Appendf(nil, `{"lease_token":%q,"extend":%q}`, j.LeaseToken, lease.String()))
	switch {
	case err != nil:
		if !errors.Is(err, errGone) {
			w.emit("error", "heartbeat: "+err.Error())
		}
		return false, true
	case status == http.StatusConflict:
		w.emit("done", j.ID, strconv.Itoa(j.Attempt), "lost")
		j.LeaseToken = ""
		return false, false
	case status != http.StatusOK:
		w.emit("error", fmt.Sprintf("heartbeat %s: %d %s", j.ID, status, body))
		return false, true
	}
	var hb job
	if err := json.Unmarshal(body, &hb); err != nil {
		w.emit("error", "heartbeat answer: "+err.Error())
		return false, true
	}
	exp, err := time.Parse(time.RFC3339Nano, hb.LeaseExpiresAt)
	if err != nil {
		w.emit("error", "heartbeat lease_expires_at: "+err.Error())
		return false, true
	}
	if exp.Before(j.expires) {
		w.emit("error", fmt.Sprintf("job %s: a heartbeat moved the lease's end back from %v to %v", j.ID, j.expires, exp))
	}
	j.expires = exp
	w.emit("beat", j.ID, strconv.Itoa(j.Attempt), hb.LeaseExpiresAt)
	return true, false
}
