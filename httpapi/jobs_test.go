package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

func TestEnqueueAnswersTheJobResource(t *testing.T) {
	e := setup(t, nil)
	resp := e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: `{
		"kind":"thumbnail","queue":"images","args":{"width":256},"priority":2,
		"delay":"30s","max_attempts":5,"timeout":"2m","unique_key":"img-42"}`})
	var j httpapi.JobResource
	resp.decode(t, &j)
	if loc := resp.Header.Get("Location"); loc != "/v1/jobs/"+j.ID {
		t.Errorf("Location = %q, want /v1/jobs/%s", loc, j.ID)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if j.Kind != "thumbnail" || j.Queue != "images" || j.State != gantry.StateScheduled || j.Priority != 2 ||
		j.MaxAttempts != 5 || string(j.Args) != `{"width":256}` || j.Timeout != "2m0s" || j.UniqueKey != "img-42" {
		t.Errorf("job = %+v", j)
	}
	if d := j.RunAt.Sub(j.CreatedAt); d < 29*time.Second || d > 31*time.Second {
		t.Errorf("run_at - created_at = %v, want 30s", d)
	}

	// The exact member names of docs/http-api.md, with null for what is not set,
	// and never a lease token.
	var raw map[string]json.RawMessage
	resp.decode(t, &raw)
	for _, name := range []string{"id", "kind", "queue", "state", "args", "priority", "attempt", "max_attempts",
		"run_at", "created_at", "started_at", "finished_at", "progress", "result", "errors", "depends_on",
		"parent_id", "blob"} {
		if _, ok := raw[name]; !ok {
			t.Errorf("the job resource has no %q: %s", name, resp.body)
		}
	}
	for _, name := range []string{"lease_token", "lease_expires_at", "checkpoint"} {
		if _, ok := raw[name]; ok {
			t.Errorf("the job resource has %q: %s", name, resp.body)
		}
	}
	if string(raw["errors"]) != "[]" || string(raw["started_at"]) != "null" || string(raw["blob"]) != "null" {
		t.Errorf("unset members: errors %s, started_at %s, blob %s", raw["errors"], raw["started_at"], raw["blob"])
	}

	got := e.job(j.ID)
	if got.ID != j.ID || got.State != j.State {
		t.Errorf("GET = %+v", got)
	}
	e.expect(http.StatusOK, req{method: "HEAD", path: "/v1/jobs/" + j.ID})
}

func TestEnqueueDefaults(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(map[string]any{"kind": "k"})
	if j.Queue != "default" || j.Priority != gantry.DefaultPriority || j.State != gantry.StateAvailable ||
		j.MaxAttempts != gantry.DefaultMaxAttempts || string(j.Args) != "{}" {
		t.Errorf("job = %+v", j)
	}
	j = e.enqueue(`{"kind":"k","args":null,"run_at":"2020-01-01T00:00:00Z"}`)
	if j.State != gantry.StateAvailable || string(j.Args) != "{}" {
		t.Errorf("job with past run_at and null args = %+v", j)
	}
}

func TestEnqueueDuplicateUniqueKey(t *testing.T) {
	e := setup(t, nil)
	first := e.do(req{method: "POST", path: "/v1/jobs", body: `{"kind":"k","unique_key":"u1"}`})
	second := e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k","unique_key":"u1","args":{"x":1}}`})
	if first.Header.Get(httpapi.HeaderDuplicate) != "" || second.Header.Get(httpapi.HeaderDuplicate) != "true" {
		t.Errorf("Gantry-Duplicate: first %q, second %q", first.Header.Get(httpapi.HeaderDuplicate), second.Header.Get(httpapi.HeaderDuplicate))
	}
	var a, b httpapi.JobResource
	first.decode(t, &a)
	second.decode(t, &b)
	if a.ID != b.ID {
		t.Errorf("duplicate answered job %s, want the first, %s", b.ID, a.ID)
	}
}

func TestEnqueueRefusesBadJobsNamingTheField(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.DeclaredKinds = []string{"k", "thumbnail"} }})
	for _, tc := range []struct {
		body   string
		status int
		code   string
		field  string
	}{
		{`{"queue":"q"}`, 422, httpapi.CodeInvalidField, "kind"},
		{`{"kind":"no spaces"}`, 422, httpapi.CodeInvalidField, "kind"},
		{`{"kind":"undeclared"}`, 422, httpapi.CodeUnknownKind, "kind"},
		{`{"kind":"k","queue":"a/b"}`, 422, httpapi.CodeInvalidField, "queue"},
		{`{"kind":"k","priority":42}`, 422, httpapi.CodeInvalidField, "priority"},
		{`{"kind":"k","priority":-1}`, 422, httpapi.CodeInvalidField, "priority"},
		{`{"kind":"k","priority":"high"}`, 400, httpapi.CodeInvalidField, "priority"},
		{`{"kind":"k","priority":1.5}`, 400, httpapi.CodeInvalidField, "priority"},
		{`{"kind":"k","max_attempts":5000}`, 422, httpapi.CodeInvalidField, "max_attempts"},
		{`{"kind":"k","delay":"soon"}`, 400, httpapi.CodeInvalidField, "delay"},
		{`{"kind":"k","delay":30}`, 400, httpapi.CodeInvalidField, "delay"},
		{`{"kind":"k","delay":"-5s"}`, 422, httpapi.CodeInvalidField, "delay"},
		{`{"kind":"k","delay":"5s","run_at":"2030-01-01T00:00:00Z"}`, 422, httpapi.CodeInvalidField, "delay"},
		{`{"kind":"k","run_at":"tomorrow"}`, 400, httpapi.CodeInvalidField, "run_at"},
		{`{"kind":"k","timeout":"-1s"}`, 422, httpapi.CodeInvalidField, "timeout"},
		{`{"kind":"k","args":[1,2]}`, 422, httpapi.CodeInvalidField, "args"},
		{`{"kind":"k","args":"x"}`, 422, httpapi.CodeInvalidField, "args"},
		{`{"kind":"k","depends_on":"x"}`, 400, httpapi.CodeInvalidField, "depends_on"},
		{`{"kind":"k","depends_on":["01JF-not-a-job"]}`, 422, httpapi.CodeInvalidField, "depends_on[0]"},
		{`{"kind":"k","unique_key":"` + strings.Repeat("u", 300) + `"}`, 422, httpapi.CodeInvalidField, "unique_key"},
		{`{"kind":"k","knd":"typo"}`, 400, httpapi.CodeUnknownField, "knd"},
		{`{"kind":"k"} {"kind":"k"}`, 400, httpapi.CodeInvalidJSON, ""},
		{`[{"kind":"k"}]`, 400, httpapi.CodeInvalidJSON, ""},
	} {
		resp := e.do(req{method: "POST", path: "/v1/jobs", body: tc.body})
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.body, resp.StatusCode, tc.status, resp.body)
			continue
		}
		p := resp.problem(t)
		if p.Code != tc.code || p.Field != tc.field {
			t.Errorf("%s: code %q field %q, want %q %q: %s", tc.body, p.Code, p.Field, tc.code, tc.field, resp.body)
		}
	}
	var list httpapi.JobList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs"}).decode(t, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("%d jobs were created by refused requests", len(list.Jobs))
	}
}

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

func TestStrictKindsAcceptsOnlyRegisteredKinds(t *testing.T) {
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[noopArgs](func(context.Context, *gantry.Task[noopArgs]) error { return nil }))
	e := setup(t, &options{client: &gantry.Config{Registry: reg}, cfg: func(c *httpapi.Config) {
		c.StrictKinds = true
		c.DeclaredKinds = []string{"remote"}
	}})
	e.enqueue(`{"kind":"noop"}`)
	e.enqueue(`{"kind":"remote"}`)
	p := e.expect(422, req{method: "POST", path: "/v1/jobs", body: `{"kind":"other"}`}).problem(t)
	if p.Code != httpapi.CodeUnknownKind || p.Field != "kind" {
		t.Errorf("problem = %+v", p)
	}
}

func TestBatchIsAllOrNone(t *testing.T) {
	e := setup(t, nil)
	var out httpapi.JobBatch
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs/batch",
		body: `{"jobs":[{"kind":"a"},{"kind":"b","queue":"q2"},{"kind":"c","args":{"n":3}}]}`}).decode(t, &out)
	if len(out.Jobs) != 3 || out.Jobs[0].Kind != "a" || out.Jobs[1].Queue != "q2" || string(out.Jobs[2].Args) != `{"n":3}` {
		t.Fatalf("batch answer = %+v", out)
	}

	for _, tc := range []struct {
		body   string
		status int
		code   string
		field  string
	}{
		{`{"jobs":[{"kind":"a"},{"kind":"b"},{"kind":"c"},{"queue":"x"}]}`, 422, httpapi.CodeInvalidField, "jobs[3].kind"},
		{`{"jobs":[{"kind":"a"},{"kind":"b","priority":"x"}]}`, 400, httpapi.CodeInvalidField, "jobs[1].priority"},
		{`{"jobs":[{"kind":"a"},{"kind":"b","priority":10}]}`, 422, httpapi.CodeInvalidField, "jobs[1].priority"},
		{`{"jobs":[{"kind":"a","delay":"x"}]}`, 400, httpapi.CodeInvalidField, "jobs[0].delay"},
		{`{"jobs":[{"kind":"a","color":"red"}]}`, 400, httpapi.CodeUnknownField, "jobs[0].color"},
		{`{"jobs":[{"kind":"a"},7]}`, 400, httpapi.CodeInvalidField, "jobs[1]"},
		{`{"jobs":[]}`, 422, httpapi.CodeInvalidField, "jobs"},
		{`{}`, 422, httpapi.CodeInvalidField, "jobs"},
		{`{"jobs":{}}`, 400, httpapi.CodeInvalidField, "jobs"},
		{`{"job":[]}`, 400, httpapi.CodeUnknownField, "job"},
	} {
		resp := e.do(req{method: "POST", path: "/v1/jobs/batch", body: tc.body})
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.body, resp.StatusCode, tc.status, resp.body)
			continue
		}
		p := resp.problem(t)
		if p.Code != tc.code || p.Field != tc.field {
			t.Errorf("%s: code %q field %q, want %q %q", tc.body, p.Code, p.Field, tc.code, tc.field)
		}
	}
	var list httpapi.JobList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs"}).decode(t, &list)
	if len(list.Jobs) != 3 {
		t.Errorf("%d jobs exist, want the first batch's 3", len(list.Jobs))
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := setup(t, nil)
	key := map[string]string{httpapi.HeaderIdempotencyKey: "order-7"}
	first := e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: `{"kind":"charge","args":{"cents":500}}`, header: key})
	again := e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: `{"kind":"charge","args":{"cents":500}}`, header: key})
	if first.Header.Get(httpapi.HeaderReplayed) != "" || again.Header.Get(httpapi.HeaderReplayed) != "true" {
		t.Errorf("Idempotent-Replayed: first %q, repeat %q", first.Header.Get(httpapi.HeaderReplayed), again.Header.Get(httpapi.HeaderReplayed))
	}
	var a, b httpapi.JobResource
	first.decode(t, &a)
	again.decode(t, &b)
	if a.ID != b.ID {
		t.Errorf("repeat answered %s, want %s", b.ID, a.ID)
	}
	p := e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs", body: `{"kind":"charge","args":{"cents":900}}`, header: key}).problem(t)
	if p.Code != httpapi.CodeIdempotencyConflict {
		t.Errorf("code = %q", p.Code)
	}

	// The batch route: a replay answers every job of the first call.
	bkey := map[string]string{httpapi.HeaderIdempotencyKey: "batch-1"}
	body := `{"jobs":[{"kind":"a"},{"kind":"b"}]}`
	var b1, b2 httpapi.JobBatch
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs/batch", body: body, header: bkey}).decode(t, &b1)
	r2 := e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs/batch", body: body, header: bkey})
	r2.decode(t, &b2)
	if r2.Header.Get(httpapi.HeaderReplayed) != "true" || len(b2.Jobs) != 2 || b1.Jobs[1].ID != b2.Jobs[1].ID {
		t.Errorf("batch replay = %s", r2.body)
	}
	e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/batch", body: `{"jobs":[{"kind":"a"}]}`, header: bkey})

	// A bad key is refused.
	p = e.expect(http.StatusBadRequest, req{method: "POST", path: "/v1/jobs", body: `{"kind":"a"}`,
		header: map[string]string{httpapi.HeaderIdempotencyKey: strings.Repeat("k", 300)}}).problem(t)
	if p.Field != httpapi.HeaderIdempotencyKey {
		t.Errorf("field = %q", p.Field)
	}
}

func TestListPagesNewestFirstWithFilters(t *testing.T) {
	e := setup(t, nil)
	var ids []string
	for i := range 5 {
		kind := "even"
		if i%2 == 1 {
			kind = "odd"
		}
		ids = append(ids, e.enqueue(map[string]any{"kind": kind, "queue": "q" + fmt.Sprint(i%2)}).ID)
	}
	slices.Reverse(ids)

	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		var l httpapi.JobList
		e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs?limit=2&cursor=" + cursor}).decode(t, &l)
		for _, j := range l.Jobs {
			seen = append(seen, j.ID)
		}
		if l.NextCursor == "" {
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = l.NextCursor
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("pages = %v, want newest first %v", seen, ids)
	}

	var l httpapi.JobList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs?kind=odd"}).decode(t, &l)
	if len(l.Jobs) != 2 {
		t.Errorf("kind=odd: %d jobs", len(l.Jobs))
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs?queue=q0&state=available"}).decode(t, &l)
	if len(l.Jobs) != 3 {
		t.Errorf("queue=q0&state=available: %d jobs", len(l.Jobs))
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs?state=succeeded"}).decode(t, &l)
	if len(l.Jobs) != 0 || l.Jobs == nil {
		t.Errorf("state=succeeded: %+v", l.Jobs)
	}

	for _, tc := range []struct{ query, code, field string }{
		{"state=done", httpapi.CodeInvalidField, "state"},
		{"limit=ten", httpapi.CodeInvalidField, "limit"},
		{"limit=-1", httpapi.CodeInvalidField, "limit"},
		{"kind=a%20b", httpapi.CodeInvalidField, "kind"},
		{"sort=asc", httpapi.CodeUnknownField, "sort"},
		{"kind=a&kind=b", httpapi.CodeInvalidField, "kind"},
		{"cursor=garbage", httpapi.CodeInvalidField, "cursor"},
	} {
		resp := e.do(req{method: "GET", path: "/v1/jobs?" + tc.query})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: status %d: %s", tc.query, resp.StatusCode, resp.body)
			continue
		}
		if p := resp.problem(t); p.Code != tc.code || p.Field != tc.field {
			t.Errorf("?%s: code %q field %q", tc.query, p.Code, p.Field)
		}
	}
}

func TestCancelAndRetry(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"k"}`)
	var c httpapi.JobResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/cancel", body: `{"reason":"changed my mind"}`}).decode(t, &c)
	if c.State != gantry.StateCancelled || c.CancelReason != "changed my mind" || c.FinishedAt == nil {
		t.Errorf("cancelled job = %+v", c)
	}
	p := e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/" + j.ID + "/cancel"}).problem(t)
	if p.Code != httpapi.CodeConflict || p.State != "cancelled" || !strings.Contains(p.Detail, "cancelled") {
		t.Errorf("second cancel: %+v", p)
	}
	var r httpapi.JobResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/retry"}).decode(t, &r)
	if r.State != gantry.StateAvailable {
		t.Errorf("retried job is %s", r.State)
	}
	p = e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/" + j.ID + "/retry", body: `{}`}).problem(t)
	if p.Code != httpapi.CodeConflict || p.State != "available" || !strings.Contains(p.Detail, "available") {
		t.Errorf("retry of an available job: %+v", p)
	}
	e.expect(http.StatusNotFound, req{method: "POST", path: "/v1/jobs/nope/cancel"}).problem(t)
	e.expect(http.StatusNotFound, req{method: "POST", path: "/v1/jobs/nope/retry"}).problem(t)
	e.expect(http.StatusBadRequest, req{method: "POST", path: "/v1/jobs/" + j.ID + "/retry", body: `{"force":true}`}).problem(t)
}

func TestGetUnknownJobIs404(t *testing.T) {
	e := setup(t, nil)
	for _, path := range []string{"/v1/jobs/nope", "/v1/jobs/nope?wait=1s", "/v1/jobs/nope/events", "/v1/jobs/nope/blob",
		"/v1/jobs/" + strings.Repeat("x", 300)} {
		p := e.expect(http.StatusNotFound, req{method: "GET", path: path}).problem(t)
		if p.Code != httpapi.CodeNotFound || p.Instance == "" {
			t.Errorf("%s: %+v", path, p)
		}
	}
	e.expect(http.StatusBadRequest, req{method: "GET", path: "/v1/jobs/x?wait=forever"}).problem(t)
	e.expect(http.StatusBadRequest, req{method: "GET", path: "/v1/jobs/x?wait=-1s"}).problem(t)
}

func TestLongPollReturnsWhenTheJobIsFinal(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"slow"}`)

	type result struct {
		job  httpapi.JobResource
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		resp := e.do(req{method: "GET", path: "/v1/jobs/" + j.ID + "?wait=60s"})
		var r result
		resp.decode(t, &r.job)
		r.took = time.Since(start)
		done <- r
	}()

	l := e.leaseOne()
	select {
	case r := <-done:
		t.Fatalf("the long-poll returned before the job was final: %+v", r.job)
	default:
	}
	completed := time.Now()
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/complete", body: map[string]any{"lease_token": l.LeaseToken, "result": map[string]int{"w": 1}}})
	r := <-done
	if r.job.State != gantry.StateSucceeded || string(r.job.Result) != `{"w":1}` {
		t.Errorf("long-poll answered %+v", r.job)
	}
	if late := time.Since(completed); late > 10*time.Second {
		t.Errorf("the long-poll answered %v after the job completed", late)
	}
}

func TestLongPollAnswersTheCurrentJobWhenTheWaitEnds(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"slow"}`)
	start := time.Now()
	var got httpapi.JobResource
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs/" + j.ID + "?wait=200ms"}).decode(t, &got)
	if got.State != gantry.StateAvailable || time.Since(start) < 200*time.Millisecond {
		t.Errorf("after %v: %+v", time.Since(start), got)
	}
	// A final job answers at once, whatever the wait; whole seconds work too.
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + j.ID + "/cancel"})
	start = time.Now()
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs/" + j.ID + "?wait=60"}).decode(t, &got)
	if got.State != gantry.StateCancelled || time.Since(start) > 10*time.Second {
		t.Errorf("after %v: %+v", time.Since(start), got)
	}
}

func TestQueuesPauseAndResume(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.MaxPendingPerQueue = map[string]int{"images": 100} }})
	e.enqueue(`{"kind":"a","queue":"images"}`)
	e.enqueue(`{"kind":"a","queue":"images"}`)
	e.enqueue(`{"kind":"a"}`)

	var ql httpapi.QueueList
	resp := e.expect(http.StatusOK, req{method: "GET", path: "/v1/queues"})
	resp.decode(t, &ql)
	names := []string{}
	for _, q := range ql.Queues {
		names = append(names, q.Name)
	}
	if !sort.StringsAreSorted(names) || !slices.Contains(names, "images") || !slices.Contains(names, "default") {
		t.Fatalf("queues = %v", names)
	}
	var raw struct {
		Queues []map[string]json.RawMessage `json:"queues"`
	}
	resp.decode(t, &raw)
	for _, member := range []string{"name", "paused", "counts", "oldest_available_at", "limits"} {
		if _, ok := raw.Queues[0][member]; !ok {
			t.Errorf("a queue has no %q: %s", member, resp.body)
		}
	}
	for _, q := range ql.Queues {
		if q.Name == "images" {
			if q.Counts[gantry.StateAvailable] != 2 || q.OldestAvailableAt == nil || q.Limits.MaxPending == nil || *q.Limits.MaxPending != 100 {
				t.Errorf("images = %+v", q)
			}
			if _, ok := q.Counts[gantry.StateSucceeded]; !ok {
				t.Errorf("counts lack zero states: %v", q.Counts)
			}
		}
	}

	var q httpapi.QueueResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/images/pause"}).decode(t, &q)
	if !q.Paused || q.Name != "images" {
		t.Errorf("paused queue = %+v", q)
	}
	if jobs := e.lease("images", nil); len(jobs) != 0 {
		t.Errorf("leased %d jobs from a paused queue", len(jobs))
	}
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/images/resume"}).decode(t, &q)
	if q.Paused {
		t.Errorf("resumed queue = %+v", q)
	}
	if jobs := e.lease("images", `{"max":5}`); len(jobs) != 2 {
		t.Errorf("leased %d jobs after resume, want 2", len(jobs))
	}
	// A queue without jobs can be paused in advance.
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/empty/pause?create=true"}).decode(t, &q)
	if !q.Paused || q.Name != "empty" {
		t.Errorf("paused empty queue = %+v", q)
	}
	e.expect(http.StatusBadRequest, req{method: "POST", path: "/v1/queues/bad%20name/pause"}).problem(t)
}

// A queue exists when it is configured or holds a job (or was paused in
// advance): pausing or resuming another is 404, and only ?create=true
// pauses it, in advance.
func TestPauseUnknownQueue(t *testing.T) {
	e := setup(t, &options{client: &gantry.Config{Queues: map[string]gantry.QueueConfig{"configured": {Workers: 1}}}})
	e.enqueue(`{"kind":"a","queue":"busy"}`)
	names := func() []string {
		var ql httpapi.QueueList
		e.expect(http.StatusOK, req{method: "GET", path: "/v1/queues"}).decode(t, &ql)
		var out []string
		for _, q := range ql.Queues {
			out = append(out, q.Name)
		}
		return out
	}
	// GET /v1/queues lists the queues that exist, and only they.
	if got, want := names(), []string{"busy", "configured"}; !slices.Equal(got, want) {
		t.Fatalf("queues = %v, want %v", got, want)
	}
	for _, name := range []string{"busy", "configured"} {
		var q httpapi.QueueResource
		e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/" + name + "/pause"}).decode(t, &q)
		if !q.Paused || q.Name != name {
			t.Errorf("pause %s = %+v", name, q)
		}
		e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/" + name + "/resume"}).decode(t, &q)
		if q.Paused {
			t.Errorf("resume %s = %+v", name, q)
		}
	}
	for _, path := range []string{"/v1/queues/nosuch/pause", "/v1/queues/nosuch/pause?create=false", "/v1/queues/nosuch/resume"} {
		p := e.expect(http.StatusNotFound, req{method: "POST", path: path}).problem(t)
		if p.Code != httpapi.CodeNotFound || !strings.Contains(p.Detail, `queue "nosuch" not found`) {
			t.Errorf("%s: %+v", path, p)
		}
		if strings.Contains(path, "/pause") != strings.Contains(p.Detail, "?create=true") {
			t.Errorf("%s: the detail %q", path, p.Detail)
		}
	}
	if got := names(); slices.Contains(got, "nosuch") {
		t.Errorf("a refused pause created the queue: %v", got)
	}
	for path, field := range map[string]string{
		"/v1/queues/nosuch/pause?create=yes":   "create",
		"/v1/queues/nosuch/resume?create=true": "create",
		"/v1/queues/busy/pause?force=true":     "force",
	} {
		if p := e.expect(http.StatusBadRequest, req{method: "POST", path: path}).problem(t); p.Field != field {
			t.Errorf("%s: %+v, want a problem naming %s", path, p, field)
		}
	}
	// ?create=true pauses it in advance; from then on it exists.
	var q httpapi.QueueResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/nosuch/pause?create=true"}).decode(t, &q)
	if !q.Paused || q.Name != "nosuch" {
		t.Errorf("pause ?create=true = %+v", q)
	}
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/nosuch/resume"}).decode(t, &q)
	if q.Paused || !slices.Contains(names(), "nosuch") {
		t.Errorf("resume after create = %+v, queues %v", q, names())
	}
}
