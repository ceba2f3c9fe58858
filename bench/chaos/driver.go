package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind and Queue of the jobs the chaos loop enqueues.
const (
	Kind  = "chaos.work"
	Queue = "chaos"
)

// Config sets up a run. Zero fields take the defaults named.
type Config struct {
	// URLs returns the base URLs of the nodes to send requests to; a
	// request goes to one at random, and is sent again to another (or the
	// same, once restarted) when no answer comes.
	URLs func() []string
	// Jobs is how many acknowledged jobs the clients aim for. Default 1000.
	Jobs int
	// Clients and Workers are how many of each run at once. Default 4 each.
	Clients, Workers int
	// LeaseMax is the most jobs a worker leases at once. Default 8.
	LeaseMax int
	// Lease is the lease each worker asks for. Default 3s.
	Lease time.Duration
	// MaxAttempts of each job. Default 25, so that attempts lost to kills
	// (leases expiring) rarely use them up.
	MaxAttempts int
	// DrainTimeout bounds the wait, after the last kill and enqueue, for
	// every job to be final: the wait fails when the unfinished jobs have
	// not become fewer for this long, however long the drain takes while
	// it moves (a slow machine works off the backlog slowly, a stuck job
	// stays). Default 1m.
	DrainTimeout time.Duration
	// History receives every event. Required.
	History *History
}

func (c *Config) defaults() {
	set := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	set(&c.Jobs, 1000)
	set(&c.Clients, 4)
	set(&c.Workers, 4)
	set(&c.LeaseMax, 8)
	set(&c.MaxAttempts, 25)
	if c.Lease <= 0 {
		c.Lease = 3 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = time.Minute
	}
}

// Driver runs the clients and workers of one run.
type Driver struct {
	cfg   Config
	http  *http.Client
	acked atomic.Int64
	ids   sync.Map // acknowledged id -> struct{}
}

// NewDriver returns a driver for cfg.
func NewDriver(cfg Config) *Driver {
	cfg.defaults()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &Driver{cfg: cfg, http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// Acked returns how many jobs were acknowledged so far.
func (d *Driver) Acked() int { return int(d.acked.Load()) }

// Jobs returns the configured number of jobs.
func (d *Driver) Jobs() int { return d.cfg.Jobs }

// Enqueue runs the clients until Jobs jobs were acknowledged.
func (d *Driver) Enqueue(ctx context.Context) {
	h := d.cfg.History
	h.Add(Event{Kind: EventRun, Who: "driver", InFlight: d.cfg.Workers * d.cfg.LeaseMax, MaxAttempts: d.cfg.MaxAttempts})
	var wg sync.WaitGroup
	for c := range d.cfg.Clients {
		wg.Go(func() { d.client(ctx, c) })
	}
	wg.Wait()
}

func (d *Driver) client(ctx context.Context, c int) {
	who := fmt.Sprintf("client-%d", c)
	rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
	for n := 0; ctx.Err() == nil && d.Acked() < d.cfg.Jobs; n++ {
		job := func(i int) map[string]any {
			return map[string]any{"kind": Kind, "queue": Queue, "max_attempts": d.cfg.MaxAttempts,
				"args": map[string]any{"client": c, "n": n, "i": i}}
		}
		// Half the requests enqueue one job, a quarter a batch, a quarter
		// a workflow.
		var (
			path  string
			body  any
			count int
		)
		switch rng.IntN(4) {
		case 0, 1:
			path, body, count = "/v1/jobs", job(0), 1
		case 2:
			count = 2 + rng.IntN(19)
			jobs := make([]any, count)
			for i := range jobs {
				jobs[i] = job(i)
			}
			path, body = "/v1/jobs/batch", map[string]any{"jobs": jobs}
		default:
			count = 3 + rng.IntN(6)
			path, body = "/v1/workflows", workflow(count, job)
		}
		e := Event{Kind: EventEnqueue, Who: who, Count: count}
		var out struct {
			ID   string          `json:"id"`
			Jobs json.RawMessage `json:"jobs"`
		}
		d.post(ctx, &e, path, body, &out)
		if e.Status == http.StatusAccepted && e.Err == "" {
			if ids, err := answerIDs(path, out.ID, out.Jobs); err != nil {
				e.Err = "decoding the answer: " + err.Error()
			} else {
				e.IDs = ids
				if path == "/v1/workflows" {
					e.Workflow = out.ID
				}
			}
			for _, id := range e.IDs {
				d.ids.Store(id, struct{}{})
			}
			d.acked.Add(int64(len(e.IDs)))
		}
		d.cfg.History.Add(e)
		if e.Status != http.StatusAccepted {
			pause(ctx, 20*time.Millisecond)
		}
	}
}

// workflow returns a workflow body of count jobs made by job: a fan-out of
// count-2 jobs, a job that depends on all of them, and a last one that
// depends on that one. Dependents run whatever their dependencies' outcome
// ("if_dependency_fails": "run"), so that every job of the workflow ends
// by what workers report, as single jobs do: the checker's rules hold for
// them unchanged, and the run adds the store's cascades to what a kill
// may interrupt.
func workflow(count int, job func(int) map[string]any) map[string]any {
	jobs := make([]any, 0, count)
	var fanOut []string
	for i := range count - 2 {
		j := job(i)
		j["ref"] = fmt.Sprintf("j%d", i)
		fanOut = append(fanOut, j["ref"].(string))
		jobs = append(jobs, j)
	}
	join := job(count - 2)
	join["ref"], join["depends_on"], join["if_dependency_fails"] = "join", fanOut, "run"
	last := job(count - 1)
	last["ref"], last["depends_on"], last["if_dependency_fails"] = "last", []string{"join"}, "run"
	return map[string]any{"name": "chaos", "jobs": append(jobs, join, last)}
}

// answerIDs returns the ids of the jobs an enqueue answer acknowledged:
// the job of POST /v1/jobs, those of a batch (a list) or of a workflow (an
// object keyed by ref).
func answerIDs(path, id string, jobs json.RawMessage) ([]string, error) {
	type idOnly struct {
		ID string `json:"id"`
	}
	var list []idOnly
	switch path {
	case "/v1/jobs":
		return []string{id}, nil
	case "/v1/workflows":
		var m map[string]idOnly
		if err := json.Unmarshal(jobs, &m); err != nil {
			return nil, err
		}
		list = slices.Collect(maps.Values(m))
	default:
		if err := json.Unmarshal(jobs, &list); err != nil {
			return nil, err
		}
	}
	ids := make([]string, len(list))
	for i, j := range list {
		ids[i] = j.ID
	}
	return ids, nil
}

// post sends body to a random node and fills e's Node, Sent, Status,
// Code and Err; a 2xx answer is decoded into out.
func (d *Driver) post(ctx context.Context, e *Event, path string, body, out any) {
	urls := d.cfg.URLs()
	e.Node = urls[rand.IntN(len(urls))]
	b, err := json.Marshal(body)
	if err != nil {
		panic(err) // the driver's own bodies always marshal
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.Node+path, bytes.NewReader(b))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	d.do(e, req, out)
}

func (d *Driver) do(e *Event, req *http.Request, out any) {
	e.Sent = d.cfg.History.Seq()
	res, err := d.http.Do(req)
	if err != nil {
		e.Err = err.Error()
		return
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		// The answer broke off: whatever the status, what was applied is
		// not known.
		e.Err = "reading the answer: " + err.Error()
		return
	}
	e.Status = res.StatusCode
	if res.StatusCode/100 != 2 {
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(b, &p)
		e.Code = p.Code
		return
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.Err = "decoding the answer: " + err.Error()
		}
	}
}

// Work runs the workers until ctx is done.
func (d *Driver) Work(ctx context.Context) {
	var wg sync.WaitGroup
	for w := range d.cfg.Workers {
		wg.Go(func() { d.worker(ctx, w) })
	}
	wg.Wait()
}

type leased struct {
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	Token   string `json:"lease_token"`
}

func (d *Driver) worker(ctx context.Context, w int) {
	who := fmt.Sprintf("worker-%d", w)
	rng := rand.New(rand.NewPCG(uint64(w)+1000, uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		e := Event{Kind: EventLease, Who: who}
		var out struct {
			Jobs []leased `json:"jobs"`
		}
		d.post(ctx, &e, "/v1/queues/"+Queue+"/lease",
			map[string]any{"max": d.cfg.LeaseMax, "lease": d.cfg.Lease.String(), "wait": "500ms", "kinds": []string{Kind}}, &out)
		if e.Status != http.StatusOK || e.Err != "" {
			pause(ctx, 50*time.Millisecond)
			continue
		}
		for _, j := range out.Jobs {
			le := e
			le.Job, le.Attempt, le.Token = j.ID, j.Attempt, j.Token
			d.cfg.History.Add(le)
		}
		for _, j := range out.Jobs {
			d.run(ctx, who, rng, j)
		}
	}
}

// run executes one leased job: maybe a heartbeat, then a completion (85%),
// a failure to retry (10%) or a permanent failure (5%), sent again until an
// answer comes.
func (d *Driver) run(ctx context.Context, who string, rng *rand.Rand, j leased) {
	pause(ctx, time.Duration(rng.IntN(3000))*time.Microsecond)
	base := Event{Who: who, Job: j.ID, Attempt: j.Attempt, Token: j.Token}
	if rng.IntN(3) == 0 {
		e := base
		e.Kind = EventHeartbeat
		d.post(ctx, &e, "/v1/jobs/"+j.ID+"/heartbeat", map[string]any{"lease_token": j.Token, "progress": 50}, nil)
		d.cfg.History.Add(e)
		if e.Status == http.StatusConflict || e.Status == http.StatusNotFound {
			return // the lease is lost: another attempt has the job
		}
	}
	e := base
	var path string
	var body map[string]any
	switch r := rng.IntN(100); {
	case r < 85:
		e.Kind, path = EventComplete, "/complete"
		body = map[string]any{"lease_token": j.Token, "result": map[string]any{"token": j.Token}}
	default:
		retry := r < 95
		e.Kind, e.Retry, path = EventFail, &retry, "/fail"
		body = map[string]any{"lease_token": j.Token, "error": "chaos " + j.Token, "retry": retry, "retry_in": "10ms"}
	}
	deadline := time.Now().Add(30 * time.Second)
	for ctx.Err() == nil {
		try := e
		d.post(ctx, &try, "/v1/jobs/"+j.ID+path, body, nil)
		d.cfg.History.Add(try)
		if try.Status != 0 && try.Status != http.StatusServiceUnavailable && try.Status/100 != 5 {
			return
		}
		if time.Now().After(deadline) {
			return // the lease has long expired; another attempt runs it
		}
		pause(ctx, 50*time.Millisecond)
	}
}

// WaitDrained waits until the chaos queue holds no unfinished job on
// any node's view, or DrainTimeout passes without their number going down.
func (d *Driver) WaitDrained(ctx context.Context) error {
	deadline := time.Now().Add(d.cfg.DrainTimeout)
	last := ""
	fewest := int64(-1)
	for {
		urls := d.cfg.URLs()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, urls[rand.IntN(len(urls))]+"/v1/queues", nil)
		if err != nil {
			return err
		}
		var out struct {
			Queues []struct {
				Name   string           `json:"name"`
				Counts map[string]int64 `json:"counts"`
			} `json:"queues"`
		}
		e := Event{}
		d.do(&e, req, &out)
		if e.Status == http.StatusOK && e.Err == "" {
			open := int64(0)
			for _, q := range out.Queues {
				if q.Name != Queue {
					continue
				}
				for _, s := range []string{"waiting", "scheduled", "available", "running", "retrying"} {
					open += q.Counts[s]
				}
				last = fmt.Sprint(q.Counts)
			}
			if open == 0 {
				return nil
			}
			if fewest < 0 || open < fewest {
				fewest = open
				deadline = time.Now().Add(d.cfg.DrainTimeout)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gantry: chaos: unfinished jobs no fewer for %v: %s", d.cfg.DrainTimeout, last)
		}
		if !pause(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// ReadFinal reads every acknowledged job and records its final state.
func (d *Driver) ReadFinal(ctx context.Context) {
	ids := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for id := range ids {
				d.readFinal(ctx, id)
			}
		})
	}
	d.ids.Range(func(k, _ any) bool {
		ids <- k.(string)
		return true
	})
	close(ids)
	wg.Wait()
}

func (d *Driver) readFinal(ctx context.Context, id string) {
	var j struct {
		State   string          `json:"state"`
		Attempt int             `json:"attempt"`
		Result  json.RawMessage `json:"result"`
		Errors  []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	var e Event
	for try := 0; try < 20 && ctx.Err() == nil; try++ {
		urls := d.cfg.URLs()
		e = Event{Kind: EventFinal, Who: "checker", Job: id, Node: urls[rand.IntN(len(urls))]}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.Node+"/v1/jobs/"+id, nil)
		if err != nil {
			panic(err)
		}
		d.do(&e, req, &j)
		if e.Status != 0 && e.Status/100 != 5 {
			break
		}
		pause(ctx, 100*time.Millisecond)
	}
	if e.Status == http.StatusOK {
		e.State, e.Attempt = j.State, j.Attempt
		var r struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(j.Result, &r) == nil {
			e.ResultToken = r.Token
		}
		if n := len(j.Errors); n > 0 {
			e.ErrorToken, _ = strings.CutPrefix(j.Errors[n-1].Message, "chaos ")
			if e.ErrorToken == j.Errors[n-1].Message {
				e.ErrorToken = "" // an error of the server's, e.g. an expired lease
			}
		}
	}
	d.cfg.History.Add(e)
}

// pause waits for d or ctx; it reports whether d passed.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
