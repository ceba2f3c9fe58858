package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

// TestTimesOutsideTheWindowAre422 sends every time a request can give or
// make Gantry compute outside 1970-2200: each is a 422 naming the field,
// nothing is created, and the lease is untouched.
func TestTimesOutsideTheWindowAre422(t *testing.T) {
	e := setup(t, nil)
	e.enqueue(`{"kind":"k"}`)
	l := e.leaseOne()
	job := "/v1/jobs/" + l.ID
	for _, tc := range []struct {
		path, body string
		field      string
	}{
		{"/v1/jobs", `{"kind":"t","run_at":"9999-12-31T23:59:59Z"}`, "run_at"},
		{"/v1/jobs", `{"kind":"t","run_at":"2262-04-12T00:00:00Z"}`, "run_at"},
		{"/v1/jobs", `{"kind":"t","run_at":"2200-01-01T00:00:00Z"}`, "run_at"},
		{"/v1/jobs", `{"kind":"t","run_at":"1677-01-01T00:00:00Z"}`, "run_at"},
		{"/v1/jobs", `{"kind":"t","run_at":"1969-12-31T23:59:59Z"}`, "run_at"},
		{"/v1/jobs", `{"kind":"t","delay":"2562047h"}`, "delay"},
		{"/v1/jobs", `{"kind":"t","delay":"1600000h"}`, "delay"},
		{"/v1/jobs/batch", `{"jobs":[{"kind":"t"},{"kind":"t","run_at":"9999-12-31T23:59:59Z"}]}`, "jobs[1].run_at"},
		{"/v1/jobs/batch", `{"jobs":[{"kind":"t"},{"kind":"t","delay":"2562047h"}]}`, "jobs[1].delay"},
		{"/v1/jobs?kind=t&run_at=9999-12-31T23:59:59Z", "blob", "run_at"},
		{"/v1/jobs?kind=t&delay=2562047h", "blob", "delay"},
		{job + "/fail", `{"lease_token":"` + l.LeaseToken + `","retry_in":"2562047h"}`, "retry_in"},
		{job + "/heartbeat", `{"lease_token":"` + l.LeaseToken + `","extend":"2562047h"}`, "extend"},
		{"/v1/queues/default/lease", `{"lease":"2562047h"}`, "lease"},
	} {
		r := req{method: "POST", path: tc.path, body: tc.body}
		if tc.body == "blob" {
			r.body, r.header = []byte("payload"), map[string]string{"Content-Type": "application/octet-stream"}
		}
		resp := e.do(r)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s %s: status %d, want 422: %s", tc.path, tc.body, resp.StatusCode, resp.body)
			continue
		}
		if p := resp.problem(t); p.Code != httpapi.CodeInvalidField || p.Field != tc.field {
			t.Errorf("%s %s: code %q field %q, want %q %q: %s", tc.path, tc.body, p.Code, p.Field, httpapi.CodeInvalidField, tc.field, resp.body)
		}
	}
	var list httpapi.JobList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs"}).decode(t, &list)
	if len(list.Jobs) != 1 {
		t.Errorf("%d jobs exist, want only the leased one", len(list.Jobs))
	}
	if got := e.job(l.ID); got.State != gantry.StateRunning || got.Attempt != 1 {
		t.Errorf("the leased job is %s at attempt %d after refused requests, want running at 1", got.State, got.Attempt)
	}
	e.expect(http.StatusOK, req{method: "POST", path: job + "/complete", body: map[string]any{"lease_token": l.LeaseToken}})
}

// TestTimesInsideTheWindowAreKept: a run_at late in the window is
// scheduled and kept as sent; one in the past means now.
func TestTimesInsideTheWindowAreKept(t *testing.T) {
	e := setup(t, nil)
	late := e.enqueue(`{"kind":"t","run_at":"2199-12-31T23:59:59Z"}`)
	want := time.Date(2199, 12, 31, 23, 59, 59, 0, time.UTC)
	if got := e.job(late.ID); got.State != gantry.StateScheduled || !got.RunAt.Equal(want) {
		t.Errorf("run_at 2199: %s at %s, want scheduled at %s", got.State, got.RunAt, want)
	}
	past := e.enqueue(`{"kind":"t","run_at":"1970-01-02T00:00:00Z"}`)
	if past.State != gantry.StateAvailable {
		t.Errorf("run_at 1970-01-02: %s, want available", past.State)
	}
	if jobs := e.lease("default", map[string]any{"max": 10}); len(jobs) != 1 || jobs[0].ID != past.ID {
		t.Errorf("lease took %d jobs, want only the past one", len(jobs))
	}
}
