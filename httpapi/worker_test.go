package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
)

func TestWorkerProtocol(t *testing.T) {
	e := setup(t, nil)
	for range 3 {
		e.enqueue(`{"kind":"thumbnail","args":{"w":1}}`)
	}
	resp := e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease",
		body: `{"max":2,"lease":"30s","wait":"1s","kinds":["thumbnail"]}`})
	var out httpapi.LeaseResponse
	resp.decode(t, &out)
	if len(out.Jobs) != 2 {
		t.Fatalf("leased %d jobs, want 2", len(out.Jobs))
	}
	var raw struct {
		Jobs []map[string]json.RawMessage `json:"jobs"`
	}
	resp.decode(t, &raw)
	for _, m := range []string{"id", "kind", "state", "args", "lease_token", "lease_expires_at", "checkpoint"} {
		if _, ok := raw.Jobs[0][m]; !ok {
			t.Errorf("a leased job has no %q: %s", m, resp.body)
		}
	}
	a, b := out.Jobs[0], out.Jobs[1]
	if a.State != gantry.StateRunning || a.Attempt != 1 || a.LeaseToken == "" || a.LeaseExpiresAt.IsZero() {
		t.Errorf("leased job = %+v", a)
	}

	// Heartbeat: progress, checkpoint, a longer lease.
	var hb httpapi.LeasedJob
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + a.ID + "/heartbeat", body: map[string]any{
		"lease_token": a.LeaseToken, "progress": 40, "message": "resizing", "checkpoint": map[string]int{"page": 3}, "extend": "5m",
	}}).decode(t, &hb)
	if hb.Progress == nil || hb.Progress.Percent != 40 || hb.Progress.Message != "resizing" || string(hb.Checkpoint) != `{"page":3}` {
		t.Errorf("after heartbeat: progress %+v, checkpoint %s", hb.Progress, hb.Checkpoint)
	}
	if d := hb.LeaseExpiresAt.Sub(a.LeaseExpiresAt); d < 4*time.Minute {
		t.Errorf("the lease moved by %v, want about 4m30s", d)
	}
	// A message alone keeps the percent.
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + a.ID + "/heartbeat", body: map[string]any{
		"lease_token": a.LeaseToken, "message": "encoding"}}).decode(t, &hb)
	if hb.Progress == nil || hb.Progress.Percent != 40 || hb.Progress.Message != "encoding" {
		t.Errorf("after a message-only heartbeat: %+v", hb.Progress)
	}
	// A token-only heartbeat extends the lease.
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + a.ID + "/heartbeat", body: map[string]any{"lease_token": a.LeaseToken}})

	var done httpapi.JobResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + a.ID + "/complete", body: map[string]any{
		"lease_token": a.LeaseToken, "result": map[string]string{"url": "s3://x"}}}).decode(t, &done)
	if done.State != gantry.StateSucceeded || string(done.Result) != `{"url":"s3://x"}` || done.FinishedAt == nil {
		t.Errorf("completed job = %+v", done)
	}

	// Fail with a delay: retrying, the error recorded.
	var failed httpapi.JobResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + b.ID + "/fail", body: map[string]any{
		"lease_token": b.LeaseToken, "error": "downstream said 503", "retry_in": "10s"}}).decode(t, &failed)
	if failed.State != gantry.StateRetrying || len(failed.Errors) != 1 || failed.Errors[0].Message != "downstream said 503" || failed.Errors[0].Attempt != 1 {
		t.Errorf("failed job = %+v", failed)
	}
	if d := failed.RunAt.Sub(failed.Errors[0].At); d != 10*time.Second {
		t.Errorf("retry after %v, want 10s", d)
	}

	// "retry": false fails at once.
	c := e.leaseOne()
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + c.ID + "/fail", body: map[string]any{
		"lease_token": c.LeaseToken, "error": "bad input", "retry": false}}).decode(t, &failed)
	if failed.State != gantry.StateFailed {
		t.Errorf("permanently failed job is %s", failed.State)
	}
}

func TestLeaseHandsOutOnlyKindsWithoutHandler(t *testing.T) {
	reg := gantry.NewRegistry()
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	gantry.Register(reg, gantry.HandlerFunc[noopArgs](func(ctx context.Context, _ *gantry.Task[noopArgs]) error {
		started <- struct{}{}
		<-release
		return nil
	}))
	e := setup(t, &options{client: &gantry.Config{Registry: reg}})
	defer close(release)
	e.enqueue(`{"kind":"noop"}`)
	<-started
	e.enqueue(`{"kind":"noop"}`) // available, but for the in-process handler
	remote := e.enqueue(`{"kind":"remote"}`)
	jobs := e.lease("default", `{"max":10}`)
	if len(jobs) != 1 || jobs[0].ID != remote.ID {
		t.Fatalf("leased %+v, want only %s", jobs, remote.ID)
	}
	if jobs := e.lease("default", `{"kinds":["noop"]}`); len(jobs) != 0 {
		t.Errorf("leased a job of a kind with a handler: %+v", jobs)
	}
}

func TestStaleLeaseTokensAreRefused(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"k"}`)
	first := e.lease("default", `{"lease":"1s"}`)[0]

	// The lease expires; the attempt is rescued as failed and retried.
	e.clock.Advance(2 * time.Second)
	if _, err := e.client.Store().Rescue(t.Context(), &store.RescueParams{Now: e.clock.Now(), Backoff: func(int) time.Duration { return 0 }}); err != nil {
		t.Fatal(err)
	}
	second := e.leaseOne()
	if second.ID != j.ID || second.Attempt != 2 {
		t.Fatalf("second lease = %+v", second)
	}
	for _, path := range []string{"heartbeat", "complete", "fail"} {
		resp := e.do(req{method: "POST", path: "/v1/jobs/" + j.ID + "/" + path, body: map[string]any{"lease_token": first.LeaseToken}})
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("%s with the first attempt's token: status %d: %s", path, resp.StatusCode, resp.body)
		}
		if p := resp.problem(t); p.Code != httpapi.CodeLeaseLost || p.State != "running" {
			t.Errorf("%s: %+v", path, p)
		}
	}
	p := e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/" + j.ID + "/complete", body: `{"lease_token":"made-up"}`}).problem(t)
	if p.Code != httpapi.CodeLeaseLost {
		t.Errorf("made-up token: %+v", p)
	}
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/complete", body: map[string]any{"lease_token": second.LeaseToken}})
	p = e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/" + j.ID + "/complete", body: map[string]any{"lease_token": second.LeaseToken}}).problem(t)
	if p.Code != httpapi.CodeLeaseLost || p.State != "succeeded" {
		t.Errorf("completing twice: %+v", p)
	}

	// A job cancelled while leased tells its worker to stop.
	k := e.enqueue(`{"kind":"k"}`)
	l := e.leaseOne()
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + k.ID + "/cancel"})
	p = e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/" + k.ID + "/heartbeat", body: map[string]any{"lease_token": l.LeaseToken}}).problem(t)
	if p.Code != httpapi.CodeLeaseLost || p.State != "cancelled" {
		t.Errorf("heartbeat of a cancelled job: %+v", p)
	}
	e.expect(http.StatusNotFound, req{method: "POST", path: "/v1/jobs/nope/heartbeat", body: `{"lease_token":"1.abc"}`}).problem(t)
}

func TestWorkerRequestsRefuseBadInput(t *testing.T) {
	e := setup(t, nil)
	e.enqueue(`{"kind":"k"}`)
	l := e.leaseOne()
	job := "/v1/jobs/" + l.ID
	for _, tc := range []struct {
		path, body string
		status     int
		code       string
		field      string
	}{
		{"/v1/queues/default/lease", `{"max":-1}`, 422, httpapi.CodeInvalidField, "max"},
		{"/v1/queues/default/lease", `{"max":100000}`, 422, httpapi.CodeInvalidField, "max"},
		{"/v1/queues/default/lease", `{"max":"ten"}`, 400, httpapi.CodeInvalidField, "max"},
		{"/v1/queues/default/lease", `{"lease":"10ms"}`, 422, httpapi.CodeInvalidField, "lease"},
		{"/v1/queues/default/lease", `{"lease":"-1s"}`, 422, httpapi.CodeInvalidField, "lease"},
		{"/v1/queues/default/lease", `{"lease":"long"}`, 400, httpapi.CodeInvalidField, "lease"},
		{"/v1/queues/default/lease", `{"wait":"-1s"}`, 422, httpapi.CodeInvalidField, "wait"},
		{"/v1/queues/default/lease", `{"kinds":"k"}`, 400, httpapi.CodeInvalidField, "kinds"},
		{"/v1/queues/default/lease", `{"kinds":["ok","not ok"]}`, 422, httpapi.CodeInvalidField, "kinds[1]"},
		{"/v1/queues/default/lease", `{"batch":1}`, 400, httpapi.CodeUnknownField, "batch"},
		{"/v1/queues/a%20b/lease", `{}`, 400, httpapi.CodeInvalidField, "name"},
		{job + "/heartbeat", `{}`, 422, httpapi.CodeInvalidField, "lease_token"},
		{job + "/heartbeat", `{"lease_token":"` + l.LeaseToken + `","progress":101}`, 422, httpapi.CodeInvalidField, "progress"},
		{job + "/heartbeat", `{"lease_token":"` + l.LeaseToken + `","progress":"half"}`, 400, httpapi.CodeInvalidField, "progress"},
		{job + "/heartbeat", `{"lease_token":"` + l.LeaseToken + `","extend":"later"}`, 400, httpapi.CodeInvalidField, "extend"},
		{job + "/heartbeat", `{"lease_token":"` + l.LeaseToken + `","percent":5}`, 400, httpapi.CodeUnknownField, "percent"},
		{job + "/heartbeat", ``, 400, httpapi.CodeInvalidJSON, ""},
		{job + "/complete", `{"result":{}}`, 422, httpapi.CodeInvalidField, "lease_token"},
		{job + "/complete", `{"lease_token":7}`, 400, httpapi.CodeInvalidField, "lease_token"},
		{job + "/fail", `{"lease_token":"` + l.LeaseToken + `","retry_in":"-3s"}`, 422, httpapi.CodeInvalidField, "retry_in"},
		{job + "/fail", `{"lease_token":"` + l.LeaseToken + `","retry":"no"}`, 400, httpapi.CodeInvalidField, "retry"},
	} {
		resp := e.do(req{method: "POST", path: tc.path, body: tc.body})
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d: %s", tc.path, tc.body, resp.StatusCode, tc.status, resp.body)
			continue
		}
		if p := resp.problem(t); p.Code != tc.code || p.Field != tc.field {
			t.Errorf("%s %s: code %q field %q, want %q %q", tc.path, tc.body, p.Code, p.Field, tc.code, tc.field)
		}
	}
	// None of that touched the lease.
	e.expect(http.StatusOK, req{method: "POST", path: job + "/complete", body: map[string]any{"lease_token": l.LeaseToken}})
}

func TestLeaseWaitsForAJob(t *testing.T) {
	e := setup(t, nil)
	type result struct {
		jobs []*httpapi.LeasedJob
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		var out httpapi.LeaseResponse
		e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease", body: `{"wait":"60s"}`}).decode(t, &out)
		done <- result{out.Jobs, time.Since(start)}
	}()
	j := e.enqueue(`{"kind":"k"}`)
	r := <-done
	if len(r.jobs) != 1 || r.jobs[0].ID != j.ID {
		t.Fatalf("leased %+v, want %s", r.jobs, j.ID)
	}
	if r.took > 20*time.Second {
		t.Errorf("the lease took %v; it should end when the job arrives", r.took)
	}

	// Nothing within the wait: an empty list.
	var out httpapi.LeaseResponse
	resp := e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease", body: `{"wait":"50ms"}`})
	resp.decode(t, &out)
	if out.Jobs == nil || len(out.Jobs) != 0 {
		t.Errorf("empty lease = %s", resp.body)
	}
	// No body at all is a lease of one, without waiting.
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease"})
}

func TestLeaseWaitEndsOnDrain(t *testing.T) {
	e := setup(t, nil)
	done := make(chan *response, 1)
	go func() {
		done <- e.do(req{method: "POST", path: "/v1/queues/default/lease", body: `{"wait":"60s"}`})
	}()
	// Whether the lease began before the drain or not, it ends at once.
	start := time.Now()
	e.api.Drain()
	resp := <-done
	switch resp.StatusCode {
	case http.StatusOK:
		if string(resp.body) != "{\"jobs\":[]}\n" {
			t.Errorf("drained lease = %s", resp.body)
		}
	case http.StatusServiceUnavailable:
		resp.problem(t)
	default:
		t.Errorf("drained lease: status %d: %s", resp.StatusCode, resp.body)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the lease ended %v after the drain", took)
	}
}

func TestSnoozeSchedulesWithoutSpendingTheAttempt(t *testing.T) {
	e := setup(t, nil)
	e.enqueue(`{"kind":"thumbnail","max_attempts":1}`)
	l := e.leaseOne()
	var got httpapi.JobResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + l.ID + "/snooze", body: map[string]any{
		"lease_token": l.LeaseToken, "retry_in": "1m"}}).decode(t, &got)
	if got.State != gantry.StateScheduled || got.Attempt != 0 || len(got.Errors) != 0 {
		t.Errorf("snoozed job = %+v", got)
	}
	if d := got.RunAt.Sub(l.LeaseExpiresAt); d < -time.Hour || got.RunAt.Before(time.Now().Add(50*time.Second)) {
		t.Errorf("snoozed until %v, want about a minute from now", got.RunAt)
	}
	p := e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/" + l.ID + "/snooze", body: map[string]any{"lease_token": l.LeaseToken}}).problem(t)
	if p.Code != httpapi.CodeLeaseLost {
		t.Errorf("stale token: %+v", p)
	}
	p = e.expect(http.StatusUnprocessableEntity, req{method: "POST", path: "/v1/jobs/" + l.ID + "/snooze", body: map[string]any{"lease_token": l.LeaseToken, "retry_in": "-1s"}}).problem(t)
	if p.Code != httpapi.CodeInvalidField || p.Field != "retry_in" {
		t.Errorf("negative retry_in: %+v", p)
	}
}
