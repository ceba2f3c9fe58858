package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

// Bounds of gantry work.
const (
	// exitTempFail is EX_TEMPFAIL of sysexits.h: the command asks for the
	// job to run again later, without spending the attempt.
	exitTempFail = 75
	// workLeaseWait is how long one lease request waits for a job.
	workLeaseWait = 20 * time.Second
	// maxStderrTail is how much of a failed command's stderr goes into the
	// attempt's error.
	maxStderrTail = 4 << 10
	// maxResult bounds a command's stdout, the job's result.
	maxResult = 1 << 20
	// workReportTimeout bounds reporting a job's outcome to the server.
	workReportTimeout = 30 * time.Second
	// snoozeMax bounds the backoff of exit 75.
	snoozeMax = 10 * time.Minute
)

// stderrProgress is a line of a command's stderr that reports progress:
// "progress 40 resizing".
var stderrProgress = regexp.MustCompile(`^progress ([0-9]{1,3})(?: (.*))?$`)

func runWork(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "work", "KIND[,KIND...] -- COMMAND [ARG...]", `
Leases jobs of the given kinds from a server and runs COMMAND for each: the
job's args as JSON on stdin; GANTRY_JOB_ID, GANTRY_JOB_KIND, GANTRY_JOB_QUEUE
and GANTRY_JOB_ATTEMPT in the environment. Its stdout is the job's result
(JSON, or text stored as a string); stderr lines "progress 40 resizing"
report progress and extend the lease, other stderr lines are passed on.
Exit 0 succeeds; exit 75 (EX_TEMPFAIL) runs the job again later without
spending the attempt; any other exit fails the attempt with stderr's tail as
the error (retried while attempts remain).

On SIGINT or SIGTERM it leases no more jobs and lets running commands
finish for --shutdown-timeout; then it kills them and gives their jobs
back, to run again at once. A second signal ends it at once.

  gantry work thumbnail -- ./make-thumbnail.sh`)
	var cf clientFlags
	cf.register(e, fs)
	queue := fs.String("queue", "default", "the `queue` to lease from")
	concurrency := fs.Int("concurrency", 1, "how many commands run at once")
	lease := fs.Duration("lease", 30*time.Second, "how long a lease lasts without a heartbeat; running commands heartbeat every third of it")
	timeout := fs.Duration("timeout", 0, "kill a command that runs longer (the attempt fails); 0: the job's own timeout, or none")
	shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "after a signal, how long running commands may take before they are killed and their jobs given back")
	snooze := fs.Duration("snooze", 10*time.Second, "the first delay after exit 75, doubled for each exit 75 in a row, at most 10m")
	var pos []string
	var cmdArgs []string
	// Everything after "--" is the command.
	for i, a := range args {
		if a == "--" {
			args, cmdArgs = args[:i], args[i+1:]
			break
		}
	}
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	switch {
	case len(cmdArgs) == 0:
		return usageErrorf("missing the command: gantry work KIND -- COMMAND [ARG...]")
	case *concurrency < 1 || *concurrency > 10000:
		return usageErrorf("--concurrency %d must be between 1 and 10000", *concurrency)
	case *lease < time.Second:
		return usageErrorf("--lease %v must be at least 1s", *lease)
	case *timeout < 0 || *shutdown < 0 || *snooze < 0:
		return usageErrorf("--timeout, --shutdown-timeout and --snooze must not be negative")
	}
	kinds := strings.Split(pos[0], ",")
	a, err := cf.api()
	if err != nil {
		return err
	}
	w := &worker{
		e: e, api: a, queue: *queue, kinds: kinds, command: cmdArgs,
		lease: *lease, timeout: *timeout, snooze: *snooze, json: cf.json,
	}
	// hard ends --shutdown-timeout after ctx (the first signal): then
	// running commands are killed and their jobs given back.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stopTimer := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(*shutdown, cancelHard)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	defer stopTimer()
	var wg sync.WaitGroup
	errs := make([]error, *concurrency)
	for i := range *concurrency {
		wg.Go(func() { errs[i] = w.loop(ctx, hard) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// worker runs commands for leased jobs.
type worker struct {
	e       *env
	api     *api
	queue   string
	kinds   []string
	command []string
	lease   time.Duration
	timeout time.Duration
	snooze  time.Duration
	json    bool
	// snoozes counts exits 75 in a row, for the backoff.
	mu      sync.Mutex
	snoozes int
}

// loop leases one job at a time until ctx ends; a job runs under hard.
func (w *worker) loop(ctx, hard context.Context) error {
	for ctx.Err() == nil {
		var out httpapi.LeaseResponse
		_, err := w.api.call(ctx, "POST", "/v1/queues/"+url.PathEscape(w.queue)+"/lease", nil,
			httpapi.LeaseRequest{Max: 1, Lease: w.lease.String(), Wait: workLeaseWait.String(), Kinds: w.kinds}, &out)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var pe *problemError
			if errors.As(err, &pe) && pe.Status/100 == 4 && pe.Status != 429 {
				return err // bad token, bad kinds: waiting will not fix it
			}
			fmt.Fprintf(w.e.stderr, "gantry work: leasing: %v; trying again in 1s\n", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		for _, j := range out.Jobs {
			w.run(hard, j)
		}
	}
	return nil
}

// run runs the command for one job and reports how it ended.
func (w *worker) run(hard context.Context, j *httpapi.LeasedJob) {
	timeout := w.timeout
	if timeout == 0 && j.Timeout != "" {
		timeout, _ = time.ParseDuration(j.Timeout)
	}
	ctx, cancel := context.WithCancel(hard)
	defer cancel()
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.Command(w.command[0], w.command[1:]...)
	cmd.Stdin = bytes.NewReader(j.Args)
	cmd.Env = append(os.Environ(),
		"GANTRY_JOB_ID="+j.ID, "GANTRY_JOB_KIND="+j.Kind, "GANTRY_JOB_QUEUE="+j.Queue,
		"GANTRY_JOB_ATTEMPT="+strconv.Itoa(j.Attempt))
	var stdout limitedBuffer
	stdout.max = maxResult
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		w.report(j, "fail", map[string]any{"error": "gantry work: " + err.Error()})
		return
	}
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		w.report(j, "fail", map[string]any{"error": "gantry work: starting the command: " + err.Error(), "retry": false})
		return
	}
	// Kill the command's process group when the job's context ends.
	stopKill := context.AfterFunc(ctx, func() { killProcessGroup(cmd) })
	defer stopKill()

	// A heartbeat refused with 409 means the job was cancelled or its
	// lease lost: the command is killed and nothing is reported.
	hb := &heartbeater{w: w, j: j, lost: cancel}
	var tail tailBuffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := stderrProgress.FindStringSubmatch(line); m != nil {
				if pct, _ := strconv.Atoi(m[1]); pct <= 100 {
					hb.beat(ctx, &pct, m[2])
					continue
				}
			}
			tail.add(line)
			fmt.Fprintln(w.e.stderr, line)
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	ticker := time.NewTicker(w.lease / 3)
	waited := make(chan error, 1)
	go func() {
		<-readDone
		waited <- cmd.Wait()
	}()
	var werr error
loop:
	for {
		select {
		case werr = <-waited:
			break loop
		case <-ticker.C:
			hb.beat(ctx, nil, "")
		}
	}
	ticker.Stop()

	switch {
	case hb.isLost():
		fmt.Fprintf(w.e.stderr, "gantry work: job %s: the lease was lost (the job was cancelled, or the lease expired); the command was stopped\n", j.ID)
	case hard.Err() != nil:
		// Shutdown cut it off: give the job back, unspent.
		w.report(j, "snooze", map[string]any{})
	case ctx.Err() != nil:
		w.report(j, "fail", map[string]any{"error": fmt.Sprintf("gantry work: the command ran past its timeout %v and was killed%s", timeout, tail.suffix())})
	case werr == nil && stdout.over:
		w.report(j, "fail", map[string]any{"error": fmt.Sprintf("gantry work: the command wrote more than %d bytes to stdout, the most a result may have", maxResult)})
	case werr == nil:
		w.setSnoozes(0)
		body := map[string]any{}
		if r := resultOf(stdout.Bytes()); r != nil {
			body["result"] = r
		}
		w.report(j, "complete", body)
	case exitStatus(werr) == exitTempFail:
		w.report(j, "snooze", map[string]any{"retry_in": w.nextSnooze().String()})
	default:
		w.setSnoozes(0)
		w.report(j, "fail", map[string]any{"error": fmt.Sprintf("%v%s", werr, tail.suffix())})
	}
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func (w *worker) setSnoozes(n int) {
	w.mu.Lock()
	w.snoozes = n
	w.mu.Unlock()
}

// nextSnooze is the delay after an exit 75: --snooze doubled for each
// exit 75 in a row, at most snoozeMax, with jitter.
func (w *worker) nextSnooze() time.Duration {
	w.mu.Lock()
	n := w.snoozes
	w.snoozes++
	w.mu.Unlock()
	d := min(w.snooze<<min(n, 16), snoozeMax)
	return (d/2 + rand.N(d/2+1)).Round(time.Millisecond)
}

// report tells the server how a job ended: "complete", "fail" or
// "snooze", with body and the lease token.
func (w *worker) report(j *httpapi.LeasedJob, action string, body map[string]any) {
	body["lease_token"] = j.LeaseToken
	ctx, cancel := context.WithTimeout(context.Background(), workReportTimeout)
	defer cancel()
	out, err := w.api.call(ctx, "POST", "/v1/jobs/"+url.PathEscape(j.ID)+"/"+action, nil, body, nil)
	if err != nil {
		fmt.Fprintf(w.e.stderr, "gantry work: job %s: %s: %v\n", j.ID, action, err)
		return
	}
	if w.json {
		fmt.Fprintf(w.e.stdout, "%s\n", bytes.TrimSpace(out))
	}
}

// heartbeater extends a job's lease and reports its progress, one call at
// a time.
type heartbeater struct {
	w         *worker
	j         *httpapi.LeasedJob
	lost      context.CancelFunc // called when the lease is lost
	mu        sync.Mutex
	lostLease bool
}

func (h *heartbeater) isLost() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lostLease
}

func (h *heartbeater) beat(ctx context.Context, pct *int, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	req := httpapi.HeartbeatRequest{LeaseToken: h.j.LeaseToken, Progress: pct, Extend: h.w.lease.String()}
	if pct != nil && msg != "" {
		req.Message = &msg
	}
	_, err := h.w.api.call(ctx, "POST", "/v1/jobs/"+url.PathEscape(h.j.ID)+"/heartbeat", nil, req, nil)
	var pe *problemError
	switch {
	case errors.As(err, &pe) && (pe.Status == 409 || pe.Status == 404):
		h.lostLease = true
		h.lost()
	case err != nil && ctx.Err() == nil:
		fmt.Fprintf(h.w.e.stderr, "gantry work: job %s: heartbeat: %v\n", h.j.ID, err)
	}
}

// resultOf is the job's result from a command's stdout: JSON as it is,
// other text as a JSON string, nothing for empty output.
func resultOf(b []byte) json.RawMessage {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil
	}
	if json.Valid(t) {
		return json.RawMessage(t)
	}
	s, _ := json.Marshal(strings.ToValidUTF8(strings.TrimRight(string(b), "\n"), "\uFFFD"))
	return s
}

// limitedBuffer keeps up to max bytes and notes whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// tailBuffer keeps the last maxStderrTail bytes of the lines added.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, line...)
	t.b = append(t.b, '\n')
	if len(t.b) > maxStderrTail {
		t.b = t.b[len(t.b)-maxStderrTail:]
	}
}

func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.b), "\uFFFD"))
	if s == "" {
		return ""
	}
	return ": " + s
}
