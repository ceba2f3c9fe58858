package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

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
	for k, v := range map[string]string{"state": *state, "kind": *kind, "queue": *queue, "cursor": *cursor, "limit": nonZero(*limit)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out httpapi.JobList
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
	var j httpapi.JobResource
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
--timeout passed first. On a terminal, a line on stderr shows the job's
state and progress while it waits; nothing extra with --json or when the
output goes to a pipe or a file.`)
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
	stopProgress := func() {}
	if e.progress != nil && !asJSON {
		// The progress line, on a terminal, until the job is printed.
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			showProgress(pctx, a, id, e.progress)
		}()
		stopProgress = func() {
			cancel()
			<-done
		}
	}
	defer func() { stopProgress() }()
	for {
		poll := maxWaitPoll
		if !deadline.IsZero() {
			poll = min(poll, time.Until(deadline))
		}
		q := url.Values{}
		if poll > 0 {
			q.Set("wait", poll.Round(time.Millisecond).String())
		}
		var j httpapi.JobResource
		body, err := a.call(ctx, http.MethodGet, jobIDPath(id), q, nil, &j)
		if err != nil {
			return err
		}
		if j.State.Final() || (!deadline.IsZero() && !time.Now().Before(deadline)) {
			stopProgress()
			stopProgress = func() {}
			if asJSON {
				if _, err := e.stdout.Write(body); err != nil {
					return err
				}
			} else {
				printJob(e.stdout, &j)
			}
			switch {
			case !j.State.Final():
				return fmt.Errorf("job %s is still %s after %v", j.ID, j.State, timeout)
			case j.State != gantry.StateSucceeded:
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
		in = &httpapi.CancelRequest{Reason: *reason}
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
	var j httpapi.JobResource
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
