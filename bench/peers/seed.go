package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// The three designs of the seed posts (shared/seeds/000 and 001), written
// as they were, behind one HTTP handler. A payload's work is the same as
// the gantry.sleep job of the Gantry server in the same row: 50 ms of
// waiting, like an upload to S3.

// Payload is what a request carries; Update is its slow work.
type Payload struct {
	Kind string          `json:"kind"`
	Args json.RawMessage `json:"args"`
}

// Update is the slow work of a payload (the seeds' UploadToS3).
func (p *Payload) Update() error {
	time.Sleep(sleepFor)
	return nil
}

// payloadHandler is the handler every seed server shares: it decodes the
// request into a Payload, hands it to submit, and answers 202 with a
// ticket, as Gantry answers.
func payloadHandler(submit func(Payload)) http.Handler {
	var seq atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p Payload
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		submit(p)
		b := strconv.AppendUint([]byte(`{"id":"`), seq.Add(1), 16)
		b = append(b, `","state":"available"}`+"\n"...)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(b)
	})
}

// goroutinePerRequest is seed 001's default mode: go p.Update().
func goroutinePerRequest() func(Payload) {
	return func(p Payload) {
		go p.Update()
	}
}

// bufferedChannel is seed 000's second iteration and seed 001's
// BufferedChannel mode: a channel of MaxQueue payloads and one processor.
func bufferedChannel(maxQueue int) func(Payload) {
	queue := make(chan Payload, maxQueue)
	go func() { // StartProcessor
		for p := range queue {
			p.Update()
		}
	}()
	return func(p Payload) {
		queue <- p
	}
}

// Job, Worker and Dispatcher are seed 000's "better solution" (and seed
// 001's WorkerPool mode): a JobQueue channel, MaxWorker workers that
// register their own channel in a WorkerPool channel of channels, and a
// dispatcher that starts a goroutine per job to wait for a free worker.
type Job struct {
	Payload Payload
}

// Worker runs the jobs sent on its JobChannel.
type Worker struct {
	WorkerPool chan chan Job
	JobChannel chan Job
	quit       chan bool
}

// NewWorker returns a worker of the pool.
func NewWorker(workerPool chan chan Job) Worker {
	return Worker{
		WorkerPool: workerPool,
		JobChannel: make(chan Job),
		quit:       make(chan bool),
	}
}

// Start runs the worker's loop: register, then wait for a job or quit.
func (w Worker) Start() {
	go func() {
		for {
			// register the current worker into the worker queue
			w.WorkerPool <- w.JobChannel
			select {
			case job := <-w.JobChannel:
				_ = job.Payload.Update()
			case <-w.quit:
				return
			}
		}
	}()
}

// Dispatcher hands jobs to free workers.
type Dispatcher struct {
	WorkerPool chan chan Job
	maxWorkers int
	jobQueue   chan Job
}

// NewDispatcher returns a dispatcher of maxWorkers workers.
func NewDispatcher(maxWorkers int, jobQueue chan Job) *Dispatcher {
	return &Dispatcher{WorkerPool: make(chan chan Job, maxWorkers), maxWorkers: maxWorkers, jobQueue: jobQueue}
}

// Run starts the workers and the dispatch loop.
func (d *Dispatcher) Run() {
	for range d.maxWorkers {
		NewWorker(d.WorkerPool).Start()
	}
	go d.dispatch()
}

func (d *Dispatcher) dispatch() {
	for job := range d.jobQueue {
		go func(job Job) {
			// try to obtain a worker job channel that is available;
			// this will block until a worker is idle
			jobChannel := <-d.WorkerPool
			// dispatch the job to the worker job channel
			jobChannel <- job
		}(job)
	}
}

func workerPool(maxWorkers, maxQueue int) func(Payload) {
	jobQueue := make(chan Job, maxQueue)
	NewDispatcher(maxWorkers, jobQueue).Run()
	return func(p Payload) {
		jobQueue <- Job{Payload: p}
	}
}

// serveSeed runs a seed design's HTTP server on sp.Addr until ctx ends.
func serveSeed(ctx context.Context, sp *spec) error {
	var submit func(Payload)
	switch sp.System {
	case "seed-goroutine":
		submit = goroutinePerRequest()
	case "seed-channel":
		submit = bufferedChannel(seedMaxQueue)
	case "seed-pool":
		submit = workerPool(seedWorkers, seedMaxQueue)
	default:
		return fmt.Errorf("unknown seed design %q", sp.System)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/jobs", payloadHandler(submit))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	ln, err := net.Listen("tcp", sp.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
