package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

// baseTime is where every sub-test's clock starts. It has no sub-second
// part, and the suite only ever advances it by whole microseconds or more.
var baseTime = time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC)

// leaseFor is the lease the helpers claim with unless told otherwise.
const leaseFor = 30 * time.Second

// harness is one sub-test's store and clock.
type harness struct {
	t   *testing.T
	d   store.Driver
	ctx context.Context
	// now is the time every call is made at; advance moves it.
	now time.Time
	// kinds counts the unique kinds handed out by uniqueKind.
	kinds int
}

// setup marks the test parallel, opens a fresh driver and starts the clock
// at baseTime.
func setup(t *testing.T, open opener) *harness {
	t.Helper()
	t.Parallel()
	d := open(t)
	if d == nil {
		t.Fatal("open returned a nil driver")
	}
	return &harness{t: t, d: d, ctx: t.Context(), now: baseTime}
}

// advance moves the clock forward by d and returns the new time.
func (h *harness) advance(d time.Duration) time.Time {
	h.now = h.now.Add(d)
	return h.now
}

// jobOpt changes a NewJob built by newJob.
type jobOpt func(*store.NewJob)

func withKind(k string) jobOpt      { return func(j *store.NewJob) { j.Kind = k } }
func withQueue(q string) jobOpt     { return func(j *store.NewJob) { j.Queue = q } }
func withPriority(p int) jobOpt     { return func(j *store.NewJob) { j.Priority = p } }
func withRunAt(at time.Time) jobOpt { return func(j *store.NewJob) { j.RunAt = at } }
func withAttempts(n int) jobOpt     { return func(j *store.NewJob) { j.MaxAttempts = n } }
func withUniqueKey(k string) jobOpt { return func(j *store.NewJob) { j.UniqueKey = k } }
func withTraceParent(s string) jobOpt {
	return func(j *store.NewJob) { j.TraceParent = s }
}
func withParent(id string) jobOpt   { return func(j *store.NewJob) { j.ParentID = id } }
func withArgs(s string) jobOpt      { return func(j *store.NewJob) { j.Args = json.RawMessage(s) } }
func withBlob(b *blob.Info) jobOpt  { return func(j *store.NewJob) { j.Blob = b } }
func withDeps(ids ...string) jobOpt { return func(j *store.NewJob) { j.DependsOn = ids } }
func withTimeout(d time.Duration) jobOpt {
	return func(j *store.NewJob) { j.Timeout = d }
}

// newJob returns a valid job due now in queue "default", changed by opts.
func (h *harness) newJob(opts ...jobOpt) *store.NewJob {
	j := &store.NewJob{
		Kind:        "test",
		Queue:       "default",
		Args:        json.RawMessage(`{}`),
		Priority:    store.DefaultPriority,
		RunAt:       h.now,
		MaxAttempts: 3,
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

// uniqueKind returns a kind no other job of this sub-test has, so that a
// claim limited to it takes exactly the job it was made for.
func (h *harness) uniqueKind() string {
	h.kinds++
	return fmt.Sprintf("unique.kind-%d", h.kinds)
}

// enqueueBatch enqueues jobs in one call at h.now.
func (h *harness) enqueueBatch(jobs ...*store.NewJob) (*store.EnqueueResult, error) {
	h.t.Helper()
	res, err := h.d.Enqueue(h.ctx, &store.EnqueueParams{Jobs: jobs, Now: h.now})
	if err == nil && (res == nil || len(res.Jobs) != len(jobs)) {
		h.t.Fatalf("Enqueue of %d jobs: got result %+v, want one entry per job", len(jobs), res)
	}
	if err == nil {
		for i, e := range res.Jobs {
			if e.Job == nil {
				h.t.Fatalf("Enqueue: result %d has a nil Job", i)
			}
		}
	}
	return res, err
}

// enqueue enqueues one new job built from opts and fails the test unless
// it was created.
func (h *harness) enqueue(opts ...jobOpt) *store.Job {
	h.t.Helper()
	return h.enqueueNew(h.newJob(opts...))
}

// enqueueNew enqueues nj and fails the test unless it was created.
func (h *harness) enqueueNew(nj *store.NewJob) *store.Job {
	h.t.Helper()
	res, err := h.enqueueBatch(nj)
	if err != nil {
		h.t.Fatalf("Enqueue(kind %q): %v", nj.Kind, err)
	}
	e := res.Jobs[0]
	if e.Duplicate {
		h.t.Fatalf("Enqueue(kind %q): got a duplicate of %s, want a new job", nj.Kind, e.Job.ID)
	}
	return e.Job
}

// enqueueMany enqueues n jobs built from opts in one batch.
func (h *harness) enqueueMany(n int, opts ...jobOpt) []*store.Job {
	h.t.Helper()
	njs := make([]*store.NewJob, n)
	for i := range njs {
		njs[i] = h.newJob(opts...)
	}
	res, err := h.enqueueBatch(njs...)
	if err != nil {
		h.t.Fatalf("Enqueue of %d jobs: %v", n, err)
	}
	jobs := make([]*store.Job, n)
	for i, e := range res.Jobs {
		if e.Duplicate {
			h.t.Fatalf("Enqueue: job %d is a duplicate, want a new job", i)
		}
		jobs[i] = e.Job
	}
	return jobs
}

// get returns the job with the given id and fails the test on any error.
func (h *harness) get(id string) *store.Job {
	h.t.Helper()
	j, err := h.d.Get(h.ctx, id)
	if err != nil {
		h.t.Fatalf("Get(%s): %v", id, err)
	}
	if j == nil {
		h.t.Fatalf("Get(%s): nil job and nil error", id)
	}
	if j.LeaseToken != "" {
		h.t.Errorf("Get(%s): LeaseToken = %q, want it empty (only claims carry the token)", id, j.LeaseToken)
	}
	return j
}

// wantGone fails the test unless Get of id gives ErrNotFound.
func (h *harness) wantGone(id string) {
	h.t.Helper()
	_, err := h.d.Get(h.ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("Get(%s): got error %v, want ErrNotFound", id, err)
	}
}

// claim claims with p, filling in Queue "default", Max 10, LeaseFor
// leaseFor and Now h.now where p leaves them zero.
func (h *harness) claim(p store.ClaimParams) []*store.Job {
	h.t.Helper()
	if p.Queue == "" {
		p.Queue = "default"
	}
	if p.Max == 0 {
		p.Max = 10
	}
	if p.LeaseFor == 0 {
		p.LeaseFor = leaseFor
	}
	if p.Now.IsZero() {
		p.Now = h.now
	}
	res, err := h.d.Claim(h.ctx, &p)
	if err != nil {
		h.t.Fatalf("Claim(queue %q): %v", p.Queue, err)
	}
	if res == nil {
		h.t.Fatalf("Claim(queue %q): nil result and nil error", p.Queue)
	}
	if len(res.Jobs) > p.Max {
		h.t.Fatalf("Claim(queue %q, max %d): got %d jobs", p.Queue, p.Max, len(res.Jobs))
	}
	for _, j := range res.Jobs {
		if j.State != store.StateRunning {
			h.t.Errorf("Claim: job %s is %s, want running", j.ID, j.State)
		}
		if j.LeaseToken == "" {
			h.t.Errorf("Claim: job %s has no LeaseToken", j.ID)
		}
		if j.Queue != p.Queue {
			h.t.Errorf("Claim(queue %q): job %s is of queue %q", p.Queue, j.ID, j.Queue)
		}
	}
	return res.Jobs
}

// claimOne claims one job of queue and fails the test unless there was one.
func (h *harness) claimOne(queue string) *store.Job {
	h.t.Helper()
	jobs := h.claim(store.ClaimParams{Queue: queue, Max: 1})
	if len(jobs) != 1 {
		h.t.Fatalf("Claim(queue %q, max 1) at %s: got %d jobs, want 1", queue, h.at(), len(jobs))
	}
	return jobs[0]
}

// claimJob claims the job j (by its kind, which should be unique to it)
// and fails the test unless that job was claimed.
func (h *harness) claimJob(j *store.Job) *store.Job {
	h.t.Helper()
	jobs := h.claim(store.ClaimParams{Queue: j.Queue, Max: 1, Kinds: []string{j.Kind}})
	if len(jobs) != 1 || jobs[0].ID != j.ID {
		h.t.Fatalf("Claim(queue %q, kind %q) at %s: got %v, want job %s", j.Queue, j.Kind, h.at(), ids(jobs), j.ID)
	}
	return jobs[0]
}

// claimNone fails the test if a claim of queue takes any job.
func (h *harness) claimNone(queue string) {
	h.t.Helper()
	if jobs := h.claim(store.ClaimParams{Queue: queue}); len(jobs) != 0 {
		h.t.Fatalf("Claim(queue %q) at %s: got jobs %v, want none", queue, h.at(), ids(jobs))
	}
}

// claimNoneOf fails the test if a claim limited to j's queue and kind
// takes any job.
func (h *harness) claimNoneOf(j *store.Job) {
	h.t.Helper()
	if jobs := h.claim(store.ClaimParams{Queue: j.Queue, Kinds: []string{j.Kind}}); len(jobs) != 0 {
		h.t.Fatalf("Claim(queue %q, kind %q) at %s: got jobs %v, want none", j.Queue, j.Kind, h.at(), ids(jobs))
	}
}

// finish finishes items at h.now and fails the test if the call itself
// fails or its result does not have one entry per item.
func (h *harness) finish(items ...store.FinishItem) *store.FinishResult {
	h.t.Helper()
	res, err := h.d.Finish(h.ctx, &store.FinishParams{Items: items, Now: h.now})
	if err != nil {
		h.t.Fatalf("Finish of %d items: %v", len(items), err)
	}
	if res == nil || len(res.Jobs) != len(items) || len(res.Errs) != len(items) {
		h.t.Fatalf("Finish of %d items: got result %+v, want %d Jobs and %d Errs", len(items), res, len(items), len(items))
	}
	for i := range items {
		if (res.Jobs[i] == nil) == (res.Errs[i] == nil) {
			h.t.Errorf("Finish item %d: Jobs[i] = %v, Errs[i] = %v: want exactly one of them", i, res.Jobs[i], res.Errs[i])
		}
	}
	return res
}

// finishOne finishes one item.
func (h *harness) finishOne(it store.FinishItem) (*store.Job, error) {
	h.t.Helper()
	res := h.finish(it)
	return res.Jobs[0], res.Errs[0]
}

// mustFinish finishes one item and fails the test unless it applied.
func (h *harness) mustFinish(it store.FinishItem) *store.Job {
	h.t.Helper()
	j, err := h.finishOne(it)
	if err != nil {
		h.t.Fatalf("Finish(%s, %s): %v", it.ID, it.Outcome, err)
	}
	if j == nil {
		h.t.Fatalf("Finish(%s, %s): nil job", it.ID, it.Outcome)
	}
	return j
}

// succeed finishes the claimed job j as succeeded.
func (h *harness) succeed(j *store.Job) *store.Job {
	h.t.Helper()
	return h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded, Result: json.RawMessage(`{"ok":true}`)})
}

// failItem is the item that fails the claimed job j's attempt with message
// msg, to be retried after retryIn.
func (h *harness) failItem(j *store.Job, msg string, retryIn time.Duration) store.FinishItem {
	return store.FinishItem{
		ID:         j.ID,
		LeaseToken: j.LeaseToken,
		Outcome:    store.OutcomeFailed,
		Error:      &store.AttemptError{Attempt: j.Attempt, At: h.now, Message: msg},
		RetryAt:    h.now.Add(retryIn),
	}
}

// fail fails the claimed job j's attempt, to be retried after retryIn.
func (h *harness) fail(j *store.Job, retryIn time.Duration) *store.Job {
	h.t.Helper()
	return h.mustFinish(h.failItem(j, "attempt failed", retryIn))
}

// failPermanently fails the claimed job j now, whatever attempts remain.
func (h *harness) failPermanently(j *store.Job) *store.Job {
	h.t.Helper()
	it := h.failItem(j, "permanent failure", time.Minute)
	it.Permanent = true
	return h.mustFinish(it)
}

// cancel cancels the job id with reason and fails the test on error.
func (h *harness) cancel(id, reason string) *store.Job {
	h.t.Helper()
	j, err := h.d.Cancel(h.ctx, &store.CancelParams{ID: id, Reason: reason, Now: h.now})
	if err != nil {
		h.t.Fatalf("Cancel(%s): %v", id, err)
	}
	return j
}

// retry retries the job id and fails the test on error.
func (h *harness) retry(id string) *store.Job {
	h.t.Helper()
	j, err := h.d.Retry(h.ctx, &store.RetryParams{ID: id, Now: h.now})
	if err != nil {
		h.t.Fatalf("Retry(%s): %v", id, err)
	}
	return j
}

// heartbeat sends p at h.now.
func (h *harness) heartbeat(p store.HeartbeatParams) (*store.Job, error) {
	h.t.Helper()
	p.Now = h.now
	return h.d.Heartbeat(h.ctx, &p)
}

// rescue rescues expired leases at h.now with a backoff of attempt minutes.
func (h *harness) rescue(limit int) []*store.Job {
	h.t.Helper()
	res, err := h.d.Rescue(h.ctx, &store.RescueParams{Now: h.now, Limit: limit, Backoff: minutesBackoff})
	if err != nil {
		h.t.Fatalf("Rescue: %v", err)
	}
	if res == nil {
		h.t.Fatal("Rescue: nil result and nil error")
	}
	return res.Jobs
}

// minutesBackoff waits attempt minutes after the attempt'th failure.
func minutesBackoff(attempt int) time.Duration { return time.Duration(attempt) * time.Minute }

// queues returns Queues() by name.
func (h *harness) queues() map[string]store.QueueInfo {
	h.t.Helper()
	qs, err := h.d.Queues(h.ctx)
	if err != nil {
		h.t.Fatalf("Queues: %v", err)
	}
	m := make(map[string]store.QueueInfo, len(qs))
	for _, q := range qs {
		if _, dup := m[q.Name]; dup {
			h.t.Errorf("Queues: queue %q listed twice", q.Name)
		}
		m[q.Name] = q
	}
	return m
}

// pause pauses or resumes queue.
func (h *harness) pause(queue string, paused bool) {
	h.t.Helper()
	if err := h.d.PauseQueue(h.ctx, &store.PauseParams{Queue: queue, Paused: paused}); err != nil {
		h.t.Fatalf("PauseQueue(%q, %v): %v", queue, paused, err)
	}
}

// listAll pages through List with p and returns every job, failing the
// test if a page is larger than asked or a job comes twice.
func (h *harness) listAll(p store.ListParams) []*store.Job {
	h.t.Helper()
	var all []*store.Job
	seen := map[string]bool{}
	limit := p.Limit
	if limit == 0 {
		limit = store.DefaultListLimit
	}
	for page := 0; ; page++ {
		if page > 10000 {
			h.t.Fatal("List: more than 10000 pages; the cursor does not advance")
		}
		res, err := h.d.List(h.ctx, &p)
		if err != nil {
			h.t.Fatalf("List(%+v): %v", p, err)
		}
		if len(res.Jobs) > limit {
			h.t.Fatalf("List: page %d has %d jobs, want at most %d", page, len(res.Jobs), limit)
		}
		for _, j := range res.Jobs {
			if seen[j.ID] {
				h.t.Errorf("List: job %s on page %d was already on an earlier page", j.ID, page)
			}
			seen[j.ID] = true
			if j.LeaseToken != "" {
				h.t.Errorf("List: job %s carries a LeaseToken; only claims do", j.ID)
			}
		}
		all = append(all, res.Jobs...)
		if res.Next == "" {
			return all
		}
		if len(res.Jobs) == 0 {
			h.t.Fatalf("List: page %d is empty but has a Next cursor", page)
		}
		p.Cursor = res.Next
	}
}

// at formats the clock relative to baseTime, for messages.
func (h *harness) at() string { return "base+" + h.now.Sub(baseTime).String() }

// jobIn makes a job, built from opts, that is in state s, and returns it as
// the last call that changed it returned it (a running job carries its
// LeaseToken). Unless opts set one, the job has a kind of its own, so that
// claims limited to it take only this job. A waiting job waits for a new
// available job of another kind in the same queue.
func (h *harness) jobIn(s store.State, opts ...jobOpt) *store.Job {
	h.t.Helper()
	opts = append([]jobOpt{withKind(h.uniqueKind())}, opts...)
	var j *store.Job
	switch s {
	case store.StateAvailable:
		j = h.enqueue(opts...)
	case store.StateScheduled:
		j = h.enqueue(append(opts, withRunAt(h.now.Add(time.Hour)))...)
	case store.StateWaiting:
		nj := h.newJob(opts...)
		blocker := h.enqueue(withKind(h.uniqueKind()), withQueue(nj.Queue))
		nj.DependsOn = []string{blocker.ID}
		j = h.enqueueNew(nj)
	case store.StateRunning:
		j = h.claimJob(h.enqueue(opts...))
	case store.StateRetrying:
		j = h.fail(h.claimJob(h.enqueue(append(opts, withAttempts(3))...)), time.Hour)
	case store.StateSucceeded:
		j = h.succeed(h.claimJob(h.enqueue(opts...)))
	case store.StateFailed:
		j = h.failPermanently(h.claimJob(h.enqueue(opts...)))
	case store.StateCancelled:
		j = h.cancel(h.enqueue(opts...).ID, "cancelled by the test")
	default:
		h.t.Fatalf("jobIn: unknown state %q", s)
	}
	if j.State != s {
		h.t.Fatalf("setting up a %s job: it is %s", s, j.State)
	}
	return j
}

// nonFinal and final list the states by finality.
var (
	nonFinal = []store.State{store.StateScheduled, store.StateWaiting, store.StateAvailable, store.StateRunning, store.StateRetrying}
	final    = []store.State{store.StateSucceeded, store.StateFailed, store.StateCancelled}
)

// ids returns the ids of jobs, for messages and comparisons.
func ids(jobs []*store.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// sameIDs reports whether got and want hold the same ids, in any order.
func sameIDs(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// wantState fails the test unless j is in state s.
func wantState(t *testing.T, what string, j *store.Job, s store.State) {
	t.Helper()
	if j == nil {
		t.Fatalf("%s: nil job, want a %s one", what, s)
	}
	if j.State != s {
		t.Errorf("%s: job %s is %s, want %s", what, j.ID, j.State, s)
	}
}

// wantTime fails the test unless got and want are the same instant.
func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, fmtTime(got), fmtTime(want))
	}
}

// fmtTime formats a time relative to baseTime, or "zero".
func fmtTime(tm time.Time) string {
	if tm.IsZero() {
		return "zero"
	}
	d := tm.Sub(baseTime)
	sign := "+"
	if d < 0 {
		sign = ""
	}
	return fmt.Sprintf("base%s%s (%s)", sign, d, tm.UTC().Format(time.RFC3339Nano))
}

// jsonEqual reports whether a and b hold the same JSON value; two empty
// messages are equal, an empty and a non-empty one are not.
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

// jobDiff lists the fields in which got differs from want, ignoring the
// lease (token and expiry). Args must be byte-equal; Result and Checkpoint
// must hold the same JSON value; times must be the same instant.
func jobDiff(got, want *store.Job) string {
	if got == nil || want == nil {
		return fmt.Sprintf("got job %v, want %v", got, want)
	}
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Kind != want.Kind {
		add("Kind", got.Kind, want.Kind)
	}
	if got.TraceParent != want.TraceParent {
		add("TraceParent", got.TraceParent, want.TraceParent)
	}
	if got.Queue != want.Queue {
		add("Queue", got.Queue, want.Queue)
	}
	if got.State != want.State {
		add("State", got.State, want.State)
	}
	if !bytes.Equal(got.Args, want.Args) {
		add("Args", string(got.Args), string(want.Args))
	}
	if !reflect.DeepEqual(got.Blob, want.Blob) {
		add("Blob", got.Blob, want.Blob)
	}
	if got.Priority != want.Priority {
		add("Priority", got.Priority, want.Priority)
	}
	if got.Attempt != want.Attempt {
		add("Attempt", got.Attempt, want.Attempt)
	}
	if got.MaxAttempts != want.MaxAttempts {
		add("MaxAttempts", got.MaxAttempts, want.MaxAttempts)
	}
	if got.Timeout != want.Timeout {
		add("Timeout", got.Timeout, want.Timeout)
	}
	if got.LimitKey != want.LimitKey {
		add("LimitKey", got.LimitKey, want.LimitKey)
	}
	if got.UniqueKey != want.UniqueKey {
		add("UniqueKey", got.UniqueKey, want.UniqueKey)
	}
	if !slices.Equal(got.DependsOn, want.DependsOn) {
		add("DependsOn", got.DependsOn, want.DependsOn)
	}
	if got.ParentID != want.ParentID {
		add("ParentID", got.ParentID, want.ParentID)
	}
	if !strings.EqualFold(got.WorkflowID, want.WorkflowID) {
		add("WorkflowID", got.WorkflowID, want.WorkflowID)
	}
	if got.Ref != want.Ref {
		add("Ref", got.Ref, want.Ref)
	}
	if got.IfDependencyFails != want.IfDependencyFails {
		add("IfDependencyFails", got.IfDependencyFails, want.IfDependencyFails)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"RunAt", got.RunAt, want.RunAt},
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"StartedAt", got.StartedAt, want.StartedAt},
		{"FinishedAt", got.FinishedAt, want.FinishedAt},
	} {
		if !f.got.Equal(f.want) {
			add(f.name, fmtTime(f.got), fmtTime(f.want))
		}
	}
	if !reflect.DeepEqual(got.Progress, want.Progress) {
		add("Progress", got.Progress, want.Progress)
	}
	if !jsonEqual(got.Result, want.Result) {
		add("Result", string(got.Result), string(want.Result))
	}
	if e := errorsDiff(got.Errors, want.Errors); e != "" {
		d = append(d, "Errors: "+e)
	}
	if !jsonEqual(got.Checkpoint, want.Checkpoint) {
		add("Checkpoint", string(got.Checkpoint), string(want.Checkpoint))
	}
	if got.CancelReason != want.CancelReason {
		add("CancelReason", got.CancelReason, want.CancelReason)
	}
	return strings.Join(d, "; ")
}

// errorsDiff describes how got differs from want, or returns "".
func errorsDiff(got, want []store.AttemptError) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d entries %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Attempt != w.Attempt || !g.At.Equal(w.At) || g.Message != w.Message || g.Stack != w.Stack {
			return fmt.Sprintf("entry %d: got {attempt %d at %s %q}, want {attempt %d at %s %q}",
				i, g.Attempt, fmtTime(g.At), g.Message, w.Attempt, fmtTime(w.At), w.Message)
		}
	}
	return ""
}

// wantJob fails the test if got differs from want (see jobDiff).
func wantJob(t *testing.T, what string, got, want *store.Job) {
	t.Helper()
	if d := jobDiff(got, want); d != "" {
		t.Errorf("%s: job differs: %s", what, d)
	}
}

// withoutLease returns a copy of j without its lease, as Get shows it.
func withoutLease(j *store.Job) *store.Job {
	c := clone(j)
	c.LeaseToken, c.LeaseExpiresAt = "", time.Time{}
	return c
}

// clone returns a deep enough copy of j to serve as an expectation.
func clone(j *store.Job) *store.Job {
	c := *j
	c.DependsOn = slices.Clone(j.DependsOn)
	c.Errors = slices.Clone(j.Errors)
	if j.Progress != nil {
		p := *j.Progress
		c.Progress = &p
	}
	return &c
}
