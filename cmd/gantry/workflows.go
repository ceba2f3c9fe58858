package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

func workflowPath(id string, action ...string) string {
	p := "/v1/workflows/" + url.PathEscape(id)
	for _, a := range action {
		p += "/" + a
	}
	return p
}

func runWorkflowsSubmit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "workflows submit", "FILE", `
Submits the workflow in FILE (the JSON body of POST /v1/workflows; - reads
standard input), all or none, and draws it. A refused workflow names the
ref at fault, and the cycle for a cycle.`)
	var cf clientFlags
	cf.register(e, fs)
	key := fs.String("idempotency-key", "", "send this Idempotency-Key: a repeat answers the first submission")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	var data []byte
	if pos[0] == "-" {
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	req := &request{method: http.MethodPost, path: "/v1/workflows", body: bytes.NewReader(data),
		length: int64(len(data)), contentType: "application/json", idempotencyKey: *key}
	_, body, err := a.do(ctx, req)
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	var created httpapi.WorkflowCreated
	if err := json.Unmarshal(body, &created); err != nil {
		return err
	}
	w := &httpapi.WorkflowResource{ID: created.ID, Name: created.Name, State: created.State, Counts: map[gantry.State]int64{}}
	for _, j := range created.Jobs {
		w.Jobs = append(w.Jobs, j)
		w.Counts[j.State]++
	}
	printWorkflow(e.stdout, w)
	return nil
}

func runWorkflowsGet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "workflows get", "ID", `
Shows a workflow: its state, its jobs per state, and its graph, each job
with its state: children under their parent, and, after a job, "<-" and
the jobs it depends on.`)
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
	var w httpapi.WorkflowResource
	body, err := a.call(ctx, http.MethodGet, workflowPath(pos[0]), nil, nil, &w)
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	printWorkflow(e.stdout, &w)
	return nil
}

func runWorkflowsWait(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "workflows wait", "ID", `
Waits until the workflow is final and draws it. Exits 0 when it succeeded,
6 when it failed or was cancelled, and 1 when --timeout passed first.`)
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
	var deadline time.Time
	if *timeout > 0 {
		deadline = time.Now().Add(*timeout)
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
		var w httpapi.WorkflowResource
		body, err := a.call(ctx, http.MethodGet, workflowPath(pos[0]), q, nil, &w)
		if err != nil {
			return err
		}
		final := w.State != gantry.WorkflowRunning
		if !final && (deadline.IsZero() || time.Now().Before(deadline)) {
			continue
		}
		if cf.json {
			if _, err := e.stdout.Write(body); err != nil {
				return err
			}
		} else {
			printWorkflow(e.stdout, &w)
		}
		switch {
		case !final:
			return fmt.Errorf("workflow %s is still running after %v", w.ID, *timeout)
		case w.State != gantry.WorkflowSucceeded:
			return &silentError{code: exitJobEnded}
		}
		return nil
	}
}

func runWorkflowsCancel(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "workflows cancel", "ID", `
Cancels every job of the workflow that is not final, running ones included,
and the jobs outside it that depend on them.`)
	var cf clientFlags
	cf.register(e, fs)
	reason := fs.String("reason", "", "why, recorded as the jobs' cancel_reason")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	var in any
	if *reason != "" {
		in = &httpapi.CancelRequest{Reason: *reason}
	}
	var w httpapi.WorkflowResource
	body, err := a.call(ctx, http.MethodPost, workflowPath(pos[0], "cancel"), nil, in, &w)
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", w.ID, w.State, countsLine(w.Counts))
	return nil
}

func runWorkflowsList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "workflows ls", "", "Lists workflows, newest first.")
	var cf clientFlags
	cf.register(e, fs)
	state := fs.String("state", "", "only workflows in this `state`: running, succeeded, failed, cancelled")
	limit := fs.Int("limit", 50, "at most this many")
	cursor := fs.String("cursor", "", "the next_cursor of an earlier page")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	q := url.Values{}
	if *state != "" {
		q.Set("state", *state)
	}
	if *limit > 0 {
		q.Set("limit", fmt.Sprint(*limit))
	}
	if *cursor != "" {
		q.Set("cursor", *cursor)
	}
	var out httpapi.WorkflowList
	body, err := a.call(ctx, http.MethodGet, "/v1/workflows", q, nil, &out)
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	if len(out.Workflows) == 0 {
		fmt.Fprintln(e.stdout, "no workflows")
		return nil
	}
	tw := table(e.stdout)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tJOBS\tCREATED")
	for _, w := range out.Workflows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.ID, w.Name, w.State, countsLine(w.Counts), w.CreatedAt.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if out.NextCursor != "" {
		fmt.Fprintf(e.stdout, "more: --cursor %s\n", out.NextCursor)
	}
	return nil
}

// countsLine says how many jobs are in each state that has some.
func countsLine(counts map[gantry.State]int64) string {
	var parts []string
	for _, s := range gantry.States {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	if len(parts) == 0 {
		return "no jobs"
	}
	return strings.Join(parts, ", ")
}

// printWorkflow draws a workflow: a line about it, then its jobs as a
// tree (children under their parent, in the order of their ids) with each
// job's state, and, where a job depends on others, "<-" and their refs
// (ids for jobs outside the workflow): the edges of the DAG that the tree
// does not show.
func printWorkflow(w io.Writer, wf *httpapi.WorkflowResource) {
	name := wf.Name
	if name == "" {
		name = "(no name)"
	}
	fmt.Fprintf(w, "workflow %s  %s  %s  (%s)\n", wf.ID, name, wf.State, countsLine(wf.Counts))
	byID := map[string]*httpapi.JobResource{}
	for _, j := range wf.Jobs {
		byID[j.ID] = j
	}
	children := map[string][]*httpapi.JobResource{}
	var roots []*httpapi.JobResource
	for _, j := range wf.Jobs {
		if j.ParentID != nil && byID[*j.ParentID] != nil {
			children[*j.ParentID] = append(children[*j.ParentID], j)
		} else {
			roots = append(roots, j)
		}
	}
	byIDOrder := func(s []*httpapi.JobResource) {
		sort.Slice(s, func(a, b int) bool { return s[a].ID < s[b].ID })
	}
	byIDOrder(roots)
	label := func(j *httpapi.JobResource) string {
		if j.Ref != nil {
			return *j.Ref
		}
		return j.ID
	}
	width := 0
	var measure func(list []*httpapi.JobResource, depth int)
	measure = func(list []*httpapi.JobResource, depth int) {
		for _, j := range list {
			width = max(width, 4*depth+4+len(label(j)))
			measure(children[j.ID], depth+1)
		}
	}
	measure(roots, 0)
	var draw func(list []*httpapi.JobResource, prefix string)
	draw = func(list []*httpapi.JobResource, prefix string) {
		byIDOrder(list)
		for i, j := range list {
			branch, next := "├── ", "│   "
			if i == len(list)-1 {
				branch, next = "└── ", "    "
			}
			line := prefix + branch + label(j)
			line += strings.Repeat(" ", max(width-len([]rune(line)), 0)+2) + string(j.State)
			if len(j.DependsOn) > 0 {
				deps := make([]string, len(j.DependsOn))
				for k, d := range j.DependsOn {
					deps[k] = d
					if dj := byID[d]; dj != nil {
						deps[k] = label(dj)
					}
				}
				line += "  <- " + strings.Join(deps, ", ")
			}
			if j.State == gantry.StateCancelled && j.CancelReason != "" {
				line += "  (" + j.CancelReason + ")"
			}
			fmt.Fprintln(w, line)
			draw(children[j.ID], prefix+next)
		}
	}
	draw(roots, "")
	if wf.NextCursor != "" {
		fmt.Fprintf(w, "… more jobs than shown: GET /v1/jobs?workflow_id=%s&cursor=%s\n", wf.ID, wf.NextCursor)
	}
}
