package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// jobView is the job resource of the HTTP API, as far as the CLI shows it.
type jobView struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	State       string          `json:"state"`
	Args        json.RawMessage `json:"args"`
	Priority    int             `json:"priority"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	RunAt       time.Time       `json:"run_at"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at"`
	FinishedAt  *time.Time      `json:"finished_at"`
	Progress    *struct {
		Percent int    `json:"percent"`
		Message string `json:"message"`
	} `json:"progress"`
	Result json.RawMessage `json:"result"`
	Errors []struct {
		Attempt int       `json:"attempt"`
		At      time.Time `json:"at"`
		Message string    `json:"message"`
	} `json:"errors"`
	DependsOn []string `json:"depends_on"`
	ParentID  *string  `json:"parent_id"`
	Blob      *struct {
		Size        int64  `json:"size"`
		SHA256      string `json:"sha256"`
		ContentType string `json:"content_type"`
	} `json:"blob"`
	UniqueKey    string `json:"unique_key"`
	CancelReason string `json:"cancel_reason"`
}

func (j *jobView) final() bool {
	return j.State == "succeeded" || j.State == "failed" || j.State == "cancelled"
}

// jobIDPath returns the API path of a job, or of one of its actions.
func jobIDPath(id string, action ...string) string {
	p := "/v1/jobs/" + url.PathEscape(id)
	for _, a := range action {
		p += "/" + a
	}
	return p
}

// maxWaitPoll is the longest long-poll the CLI asks for; the server caps
// waits at a minute.
const maxWaitPoll = 55 * time.Second

func runEnqueue(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "enqueue", "KIND", `
Enqueues a job of kind KIND and prints its id. With --file, the file is
uploaded as the job's binary payload (streamed, with its content type) and
the job refers to it. With --wait, waits until the job is final and exits 6
if it failed or was cancelled.

The server runs two kinds itself, to try things out:
  gantry.sleep   args {"ms": N}: sleeps N milliseconds, result {"slept_ms": N}
  gantry.echo    any args: the result is the args

Examples:
  gantry enqueue gantry.sleep --args '{"ms":1500}' --wait
  gantry enqueue thumbnail --file cat.png --args '{"width":256}' --queue images
  gantry enqueue report --args '{"month":"2026-11"}' --unique-key report-2026-11 --delay 10m`)
	var cf clientFlags
	cf.register(e, fs)
	argsJSON := fs.String("args", "", "the job's args, a JSON `object` (default {})")
	file := fs.String("file", "", "upload this `path` as the job's payload (- for standard input)")
	contentType := fs.String("content-type", "", "media `type` of --file (default: from the file name, or sniffed)")
	queue := fs.String("queue", "", "the job's `queue` (default: default)")
	priority := fs.Int("priority", 0, "`priority` from 1 (first) to 9 (last) (default 5)")
	delay := fs.Duration("delay", 0, "run the job no sooner than this `duration` from now")
	uniqueKey := fs.String("unique-key", "", "at most one unfinished job with this `key`: a second enqueue returns the first")
	maxAttempts := fs.Int("max-attempts", 0, "attempts the job gets (default: the server's)")
	timeout := fs.Duration("timeout", 0, "limit on each attempt (default: the server's)")
	idemKey := fs.String("idempotency-key", "", "`key` that makes a retried enqueue return the first answer")
	wait := fs.Bool("wait", false, "wait until the job is final; exit 6 if it failed or was cancelled")
	waitTimeout := fs.Duration("wait-timeout", 0, "with --wait, give up after this `duration` (default: no limit)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	if *argsJSON != "" && !isJSONObject(*argsJSON) {
		return usageErrorf("--args must be a JSON object, e.g. '{\"ms\":1000}'")
	}
	if *delay < 0 || *timeout < 0 || *waitTimeout < 0 {
		return usageErrorf("durations must not be negative")
	}
	var (
		body []byte
		res  *http.Response
	)
	if *file != "" {
		res, body, err = uploadJob(ctx, e, a, pos[0], *file, *contentType, *argsJSON, *queue, *priority, *delay, *uniqueKey, *maxAttempts, *timeout, *idemKey)
	} else {
		in := map[string]any{"kind": pos[0]}
		if *argsJSON != "" {
			in["args"] = json.RawMessage(*argsJSON)
		}
		if *queue != "" {
			in["queue"] = *queue
		}
		if *priority != 0 {
			in["priority"] = *priority
		}
		if *delay > 0 {
			in["delay"] = delay.String()
		}
		if *uniqueKey != "" {
			in["unique_key"] = *uniqueKey
		}
		if *maxAttempts != 0 {
			in["max_attempts"] = *maxAttempts
		}
		if *timeout > 0 {
			in["timeout"] = timeout.String()
		}
		b, _ := json.Marshal(in)
		req := &request{method: http.MethodPost, path: "/v1/jobs", body: strings.NewReader(string(b)), length: int64(len(b)), contentType: "application/json"}
		res, body, err = a.doIdem(ctx, req, *idemKey)
	}
	if err != nil {
		return err
	}
	var j jobView
	if err := json.Unmarshal(body, &j); err != nil {
		return fmt.Errorf("the answer to the enqueue is not a job: %w", err)
	}
	duplicate := res.Header.Get("Gantry-Duplicate") == "true"
	if !*wait {
		if cf.json {
			_, err := e.stdout.Write(body)
			return err
		}
		switch {
		case duplicate:
			fmt.Fprintf(e.stdout, "%s\t(already enqueued with unique key %q: %s)\n", j.ID, j.UniqueKey, j.State)
		default:
			fmt.Fprintf(e.stdout, "%s\n", j.ID)
		}
		return nil
	}
	if !cf.json {
		fmt.Fprintf(e.stderr, "enqueued %s, waiting...\n", j.ID)
	}
	return waitJob(ctx, e, a, j.ID, *waitTimeout, cf.json)
}

// doIdem sends req with an Idempotency-Key header when key is set.
func (a *api) doIdem(ctx context.Context, req *request, key string) (*http.Response, []byte, error) {
	req.idempotencyKey = key
	return a.do(ctx, req)
}

// uploadJob enqueues a job whose payload is the file at path, streamed.
func uploadJob(ctx context.Context, e *env, a *api, kind, path, contentType, argsJSON, queue string, priority int,
	delay time.Duration, uniqueKey string, maxAttempts int, timeout time.Duration, idemKey string) (*http.Response, []byte, error) {
	var (
		r      io.Reader
		length int64 = -1
	)
	if path == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, &exitError{code: exitUsage, err: fmt.Errorf("--file: %w", err)}
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, nil, usageErrorf("--file %s is not a regular file", path)
		}
		r, length = f, st.Size()
	}
	if contentType == "" && path != "-" {
		contentType = mime.TypeByExtension(filepath.Ext(path))
	}
	if contentType == "" {
		// Sniff the first bytes, then send them ahead of the rest.
		head := make([]byte, 512)
		n, err := io.ReadFull(r, head)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("--file: %w", err)
		}
		head = head[:n]
		contentType = http.DetectContentType(head)
		r = io.MultiReader(strings.NewReader(string(head)), r)
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "application/x-www-form-urlencoded" || strings.HasPrefix(mt, "multipart/") {
		return nil, nil, usageErrorf("--file: a %s payload would be read as the job itself, not as its payload; "+
			"pass JSON with --args, or set --content-type application/octet-stream", mt)
	}
	q := url.Values{"kind": {kind}}
	if argsJSON != "" {
		q.Set("args", argsJSON)
	}
	if queue != "" {
		q.Set("queue", queue)
	}
	if priority != 0 {
		q.Set("priority", strconv.Itoa(priority))
	}
	if delay > 0 {
		q.Set("delay", delay.String())
	}
	if uniqueKey != "" {
		q.Set("unique_key", uniqueKey)
	}
	if maxAttempts != 0 {
		q.Set("max_attempts", strconv.Itoa(maxAttempts))
	}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	req := &request{method: http.MethodPost, path: "/v1/jobs", query: q, body: r, length: length, contentType: contentType}
	return a.doIdem(ctx, req, idemKey)
}

func isJSONObject(s string) bool {
	var v map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &v) == nil && v != nil
}

func runJobsList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "jobs ls", "", `
Lists jobs, newest first, one page at a time. The last line names the
--cursor of the next page, if there is one.`)
	var cf clientFlags
	cf.register(e, fs)
	state := fs.String("state", "", "only jobs in this `state` (waiting, scheduled, available, running, retrying, succeeded, failed, cancelled)")
	kind := fs.String("kind", "", "only jobs of this `kind`")
	queue := fs.String("queue", "", "only jobs of this `queue`")
	limit := fs.Int("limit", 0, "page `size` (default: the server's, 50)")
	cursor := fs.String("cursor", "", "the `cursor` of the page to show, from the previous page")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"state": *state, "kind": *kind, "queue": *queue, "cursor": *cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *limit != 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	var out struct {
		Jobs       []jobView `json:"jobs"`
		NextCursor string    `json:"next_cursor"`
	}
	body, err := a.call(ctx, http.MethodGet, "/v1/jobs", q, nil, &out)
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	printJobTable(e.stdout, out.Jobs, time.Now())
	if out.NextCursor != "" {
		fmt.Fprintf(e.stdout, "next page: --cursor %s\n", out.NextCursor)
	}
	return nil
}

func runJobsGet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "jobs get", "ID", "Shows a job: its state, attempts, args, result and errors.")
	var cf clientFlags
	cf.register(e, fs)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	var j jobView
	body, err := a.call(ctx, http.MethodGet, jobIDPath(pos[0]), nil, nil, &j)
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	printJob(e.stdout, &j)
	return nil
}

func runJobsWait(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "jobs wait", "ID", `
Waits until the job is final (succeeded, failed or cancelled) and shows it.
Exits 0 when it succeeded, 6 when it failed or was cancelled, and 1 when
--timeout passed first.`)
	var cf clientFlags
	cf.register(e, fs)
	timeout := fs.Duration("timeout", 0, "give up after this `duration` (default: no limit)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *timeout < 0 {
		return usageErrorf("--timeout must not be negative")
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	return waitJob(ctx, e, a, pos[0], *timeout, cf.json)
}

// waitJob long-polls the job until it is final or timeout (0: none)
// passes, prints it, and returns an error carrying exit code 6 when it
// did not succeed.
func waitJob(ctx context.Context, e *env, a *api, id string, timeout time.Duration, asJSON bool) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		poll := maxWaitPoll
		if !deadline.IsZero() {
			poll = min(poll, time.Until(deadline))
		}
		q := url.Values{}
		if poll > 0 {
			q.Set("wait", poll.Round(time.Millisecond).String())
		}
		var j jobView
		body, err := a.call(ctx, http.MethodGet, jobIDPath(id), q, nil, &j)
		if err != nil {
			return err
		}
		if j.final() || (!deadline.IsZero() && !time.Now().Before(deadline)) {
			if asJSON {
				if _, err := e.stdout.Write(body); err != nil {
					return err
				}
			} else {
				printJob(e.stdout, &j)
			}
			switch {
			case !j.final():
				return fmt.Errorf("job %s is still %s after %v", j.ID, j.State, timeout)
			case j.State != "succeeded":
				return &silentError{code: exitJobEnded}
			}
			return nil
		}
	}
}

func runJobsCancel(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "jobs cancel", "ID", `
Cancels a job that has not finished; a running job's handler sees its
context cancelled. Jobs that depend on it are cancelled too. Cancelling a
finished job exits 4.`)
	var cf clientFlags
	cf.register(e, fs)
	reason := fs.String("reason", "", "why, recorded as the job's cancel_reason")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	var in any
	if *reason != "" {
		in = map[string]string{"reason": *reason}
	}
	return jobAction(ctx, e, &cf, pos[0], "cancel", in)
}

func runJobsRetry(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "jobs retry", "ID", `
Makes a failed or cancelled job available again with a fresh set of
attempts. Retrying a job in another state exits 4.`)
	var cf clientFlags
	cf.register(e, fs)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	return jobAction(ctx, e, &cf, pos[0], "retry", nil)
}

func jobAction(ctx context.Context, e *env, cf *clientFlags, id, action string, in any) error {
	a, err := cf.api()
	if err != nil {
		return err
	}
	var j jobView
	body, err := a.call(ctx, http.MethodPost, jobIDPath(id, action), nil, in, &j)
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	fmt.Fprintf(e.stdout, "%s\t%s\n", j.ID, j.State)
	return nil
}
