package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store/embedded"
)

const thumbnailWorkflow = `{"name": "publish-image-42", "jobs": [
	{"ref": "small", "kind": "thumbnail", "args": {"width": 128}},
	{"ref": "large", "kind": "thumbnail", "args": {"width": 1024}},
	{"ref": "meta", "kind": "extract"},
	{"ref": "publish", "kind": "publish", "depends_on": ["small", "large", "meta"], "if_dependency_fails": "cancel"},
	{"ref": "album", "kind": "album", "children": [
		{"ref": "a1", "kind": "thumbnail", "args": {"width": 64}},
		{"ref": "a2", "kind": "thumbnail", "args": {"width": 64}}]}]}`

func (e *env) createWorkflow(body any) *httpapi.WorkflowCreated {
	e.t.Helper()
	var w httpapi.WorkflowCreated
	resp := e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/workflows", body: body})
	resp.decode(e.t, &w)
	if resp.Header.Get("Location") != "/v1/workflows/"+w.ID {
		e.t.Errorf("Location = %q", resp.Header.Get("Location"))
	}
	return &w
}

func TestWorkflowCreateAndRead(t *testing.T) {
	e := setup(t, nil)
	w := e.createWorkflow(thumbnailWorkflow)
	if w.State != "running" || w.Name != "publish-image-42" || len(w.Jobs) != 7 {
		t.Fatalf("created = %+v", w)
	}
	pub, album := w.Jobs["publish"], w.Jobs["album"]
	if pub.State != "waiting" || len(pub.DependsOn) != 3 || pub.WorkflowID == nil || *pub.WorkflowID != w.ID || *pub.Ref != "publish" {
		t.Errorf("publish = %+v", pub)
	}
	if a1 := w.Jobs["a1"]; a1.ParentID == nil || *a1.ParentID != album.ID || album.State != "waiting" {
		t.Errorf("a1 = %+v, album = %+v", a1, album)
	}
	var got httpapi.WorkflowResource
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/workflows/" + w.ID}).decode(t, &got)
	if got.State != "running" || got.Counts["available"] != 5 || got.Counts["waiting"] != 2 || len(got.Jobs) != 7 || got.FinishedAt != nil {
		t.Errorf("GET = %+v", got)
	}
	var page httpapi.JobList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs?workflow_id=" + w.ID + "&limit=4"}).decode(t, &page)
	if len(page.Jobs) != 4 || page.NextCursor == "" {
		t.Errorf("GET /v1/jobs?workflow_id= page = %d jobs, cursor %q", len(page.Jobs), page.NextCursor)
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/jobs?workflow_id=" + w.ID + "&cursor=" + page.NextCursor}).decode(t, &page)
	if len(page.Jobs) != 3 || page.NextCursor != "" {
		t.Errorf("second page = %d jobs, cursor %q", len(page.Jobs), page.NextCursor)
	}
	var list httpapi.WorkflowList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/workflows?state=running"}).decode(t, &list)
	if len(list.Workflows) != 1 || list.Workflows[0].ID != w.ID {
		t.Errorf("list = %+v", list)
	}
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/workflows?state=succeeded"}).decode(t, &list)
	if len(list.Workflows) != 0 {
		t.Errorf("list of succeeded = %+v", list)
	}
	e.expect(http.StatusNotFound, req{method: "GET", path: "/v1/workflows/0190f5c5-9d5a-7d8e-9d4e-6b2a1c3d4e5f"})
	e.expect(http.StatusBadRequest, req{method: "GET", path: "/v1/workflows?state=done"})
	e.expect(http.StatusBadRequest, req{method: "GET", path: "/v1/workflows/" + w.ID + "?wait=forever"})
}

func TestWorkflowLeaseCarriesDependenciesAndWaitEnds(t *testing.T) {
	e := setup(t, nil)
	w := e.createWorkflow(`{"jobs": [{"ref": "a", "kind": "a"}, {"ref": "b", "kind": "b", "depends_on": ["a"]}]}`)
	var leased httpapi.LeaseResponse
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease", body: `{"kinds": ["a"]}`}).decode(t, &leased)
	if len(leased.Jobs) != 1 {
		t.Fatalf("lease = %+v", leased)
	}
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + leased.Jobs[0].ID + "/complete",
		body: `{"lease_token": "` + leased.Jobs[0].LeaseToken + `", "result": {"w": 128}}`})
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease", body: `{"kinds": ["b"]}`}).decode(t, &leased)
	if len(leased.Jobs) != 1 || leased.Jobs[0].Dependencies["a"].State != "succeeded" ||
		string(leased.Jobs[0].Dependencies["a"].Result) != `{"w":128}` {
		t.Fatalf("b leased with %+v", leased.Jobs)
	}
	b := leased.Jobs[0]
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + b.ID + "/complete", body: `{"lease_token": "` + b.LeaseToken + `"}`})
	var got httpapi.WorkflowResource
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/workflows/" + w.ID + "?wait=10s"}).decode(t, &got)
	if got.State != "succeeded" || got.FinishedAt == nil || got.Counts["succeeded"] != 2 {
		t.Errorf("after both jobs = %+v", got)
	}
	// The event stream of a final workflow sends its jobs and ends.
	resp := e.expect(http.StatusOK, req{method: "GET", path: "/v1/workflows/" + w.ID + "/events"})
	events := 0
	sc := bufio.NewScanner(strings.NewReader(string(resp.body)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: state") {
			events++
		}
	}
	if events != 2 {
		t.Errorf("events of a final workflow: %d, want 2: %s", events, resp.body)
	}
	e.expect(http.StatusNotFound, req{method: "GET", path: "/v1/workflows/0190f5c5-9d5a-7d8e-9d4e-6b2a1c3d4e5f/events"})
}

func TestWorkflowCancel(t *testing.T) {
	e := setup(t, nil)
	w := e.createWorkflow(`{"jobs": [{"ref": "a", "kind": "a"}, {"ref": "b", "kind": "b", "depends_on": ["a"]}]}`)
	var leased httpapi.LeaseResponse
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease", body: `{"kinds": ["a"]}`}).decode(t, &leased)
	var got httpapi.WorkflowResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/workflows/" + w.ID + "/cancel", body: `{"reason": "stop"}`}).decode(t, &got)
	if got.State != "cancelled" || got.Counts["cancelled"] != 2 {
		t.Errorf("after cancel = %+v", got)
	}
	p := e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/" + leased.Jobs[0].ID + "/complete",
		body: `{"lease_token": "` + leased.Jobs[0].LeaseToken + `"}`}).problem(t)
	if p.Code != httpapi.CodeLeaseLost {
		t.Errorf("complete of a cancelled workflow's job: %+v", p)
	}
	e.expect(http.StatusNotFound, req{method: "POST", path: "/v1/workflows/0190f5c5-9d5a-7d8e-9d4e-6b2a1c3d4e5f/cancel"})
}

func TestWorkflowRefused(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.MaxWorkflowJobs = 5; c.MaxWorkflowBody = 4096 }})
	e.enqueue(`{"kind": "k", "unique_key": "img-42"}`)
	for _, tc := range []struct {
		name, body string
		status     int
		code, ref  string
		cycle      string
	}{
		{"Malformed", `{"jobs": [`, 400, httpapi.CodeInvalidJSON, "", ""},
		{"UnknownField", `{"jobs": [{"ref": "a", "kind": "k", "colour": 1}]}`, 400, httpapi.CodeUnknownField, "", ""},
		{"BadDelay", `{"jobs": [{"ref": "a", "kind": "k", "children": [{"ref": "b", "kind": "k", "delay": "soon"}]}]}`, 400, httpapi.CodeInvalidField, "", ""},
		{"BadPolicy", `{"jobs": [{"ref": "a", "kind": "k", "if_dependency_fails": "maybe"}]}`, 400, httpapi.CodeInvalidField, "", ""},
		{"NoJobs", `{"name": "x"}`, 422, httpapi.CodeInvalidField, "", ""},
		{"UnknownRef", `{"jobs": [{"ref": "a", "kind": "k", "depends_on": ["nope"]}]}`, 422, httpapi.CodeInvalidWorkflow, "a", ""},
		{"DuplicateRef", `{"jobs": [{"ref": "a", "kind": "k"}, {"ref": "a", "kind": "k"}]}`, 422, httpapi.CodeInvalidWorkflow, "a", ""},
		{"Cycle", `{"jobs": [{"ref": "a", "kind": "k", "depends_on": ["b"]}, {"ref": "b", "kind": "k", "depends_on": ["a"]}]}`,
			422, httpapi.CodeInvalidWorkflow, "a", "a b a"},
		{"MissingJob", `{"jobs": [{"ref": "a", "kind": "k", "depends_on": ["0190f5c5-9d5a-7d8e-9d4e-6b2a1c3d4e5f"]}]}`, 422, httpapi.CodeInvalidWorkflow, "a", ""},
		{"TooManyJobs", `{"jobs": [{"ref": "a", "kind": "k"}, {"ref": "b", "kind": "k"}, {"ref": "c", "kind": "k"},
			{"ref": "d", "kind": "k"}, {"ref": "e", "kind": "k"}, {"ref": "f", "kind": "k"}]}`, 422, httpapi.CodeInvalidWorkflow, "", ""},
		{"UniqueKeyHeld", `{"jobs": [{"ref": "a", "kind": "k"}, {"ref": "u", "kind": "k", "unique_key": "img-42"}]}`, 409, httpapi.CodeUniqueKeyHeld, "u", ""},
		{"TooLarge", `{"jobs": [{"ref": "a", "kind": "k", "args": {"x": "` + strings.Repeat("x", 5000) + `"}}]}`, 413, httpapi.CodeBodyTooLarge, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.expect(tc.status, req{method: "POST", path: "/v1/workflows", body: tc.body}).problem(t)
			if p.Code != tc.code || p.Ref != tc.ref || strings.Join(p.Cycle, " ") != tc.cycle {
				t.Errorf("problem = %+v, want code %s, ref %q, cycle %q", p, tc.code, tc.ref, tc.cycle)
			}
		})
	}
	e.expect(http.StatusUnsupportedMediaType, req{method: "POST", path: "/v1/workflows", body: strings.NewReader("a=b"),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	var list httpapi.WorkflowList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/workflows"}).decode(t, &list)
	if len(list.Workflows) != 0 {
		t.Errorf("refused workflows were created: %+v", list)
	}
}

func TestWorkflowIdempotencyAndAdmission(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.MaxPending = 4 }})
	body := `{"jobs": [{"ref": "a", "kind": "k"}, {"ref": "b", "kind": "k", "depends_on": ["a"]}]}`
	key := map[string]string{httpapi.HeaderIdempotencyKey: "wf-1"}
	var first, again httpapi.WorkflowCreated
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/workflows", body: body, header: key}).decode(t, &first)
	resp := e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/workflows", body: body, header: key})
	resp.decode(t, &again)
	if again.ID != first.ID || again.Jobs["b"].ID != first.Jobs["b"].ID || resp.Header.Get(httpapi.HeaderReplayed) != "true" {
		t.Errorf("replay = %+v, want the first workflow %+v", again, first)
	}
	p := e.expect(http.StatusConflict, req{method: "POST", path: "/v1/workflows", body: `{"jobs": [{"ref": "x", "kind": "k"}]}`, header: key}).problem(t)
	if p.Code != httpapi.CodeIdempotencyConflict {
		t.Errorf("same key, other body: %+v", p)
	}
	p = e.expect(http.StatusTooManyRequests, req{method: "POST", path: "/v1/workflows",
		body: `{"jobs": [{"ref": "a", "kind": "k"}, {"ref": "b", "kind": "k"}, {"ref": "c", "kind": "k"}]}`}).problem(t)
	if p.Code != httpapi.CodeQueueFull {
		t.Errorf("over the queue's limit: %+v", p)
	}
}

func TestSpawnChildrenAndAwait(t *testing.T) {
	e := setup(t, nil)
	p := e.enqueue(`{"kind": "fan", "max_attempts": 1}`)
	var leased httpapi.LeaseResponse
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease", body: `{"kinds": ["fan"]}`}).decode(t, &leased)
	tok := leased.Jobs[0].LeaseToken
	body := `{"lease_token": "` + tok + `", "jobs": [{"ref": "c1", "kind": "thumb"}, {"ref": "c2", "kind": "thumb", "depends_on": ["c1"]}]}`
	var spawned, again httpapi.SpawnResponse
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs/" + p.ID + "/children", body: body}).decode(t, &spawned)
	if len(spawned.Jobs) != 2 || *spawned.Jobs["c1"].ParentID != p.ID || spawned.Jobs["c2"].State != "waiting" {
		t.Fatalf("spawned = %+v", spawned)
	}
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs/" + p.ID + "/children", body: body}).decode(t, &again)
	if again.Jobs["c1"].ID != spawned.Jobs["c1"].ID {
		t.Errorf("a repeated spawn made new children: %s, %s", again.Jobs["c1"].ID, spawned.Jobs["c1"].ID)
	}
	e.expect(http.StatusConflict, req{method: "POST", path: "/v1/jobs/" + p.ID + "/children",
		body: `{"lease_token": "1.000000000000000000000000", "jobs": [{"ref": "x", "kind": "thumb"}]}`})
	e.expect(http.StatusUnprocessableEntity, req{method: "POST", path: "/v1/jobs/" + p.ID + "/children",
		body: `{"lease_token": "` + tok + `", "jobs": [{"ref": "x", "kind": "thumb", "depends_on": ["y"]}]}`})
	e.expect(http.StatusBadRequest, req{method: "POST", path: "/v1/jobs/" + p.ID + "/children", body: `{"lease_token": "` + tok + `", "jobs": [{"ref": "x"}], "colour": 1}`})
	var done httpapi.JobResource
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + p.ID + "/complete",
		body: `{"lease_token": "` + tok + `", "await_children": true}`}).decode(t, &done)
	if done.State != "waiting" || done.Attempt != 0 {
		t.Errorf("after await: %s, attempt %d", done.State, done.Attempt)
	}
	for _, ref := range []string{"c1", "c2"} {
		var l httpapi.LeaseResponse
		e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease", body: `{"kinds": ["thumb"]}`}).decode(t, &l)
		if len(l.Jobs) != 1 || *l.Jobs[0].Ref != ref {
			t.Fatalf("lease of %s: %+v", ref, l.Jobs)
		}
		e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + l.Jobs[0].ID + "/complete",
			body: `{"lease_token": "` + l.Jobs[0].LeaseToken + `", "result": "` + ref + `"}`})
	}
	e.expect(http.StatusOK, req{method: "POST", path: "/v1/queues/default/lease", body: `{"kinds": ["fan"]}`}).decode(t, &leased)
	if len(leased.Jobs) != 1 || leased.Jobs[0].Attempt != 1 || string(leased.Jobs[0].Dependencies["c2"].Result) != `"c2"` {
		t.Fatalf("the parent leased again: %+v", leased.Jobs)
	}
}

// BenchmarkSubmitWorkflow10k: POST /v1/workflows of a 10,000-job workflow
// (a parent with 9,998 children, and a publish job depending on all of
// them) over HTTP to a server on the embedded store, answered 202.
func BenchmarkSubmitWorkflow10k(b *testing.B) {
	dir := b.TempDir()
	st, err := embedded.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, err := gantry.NewClient(st, nil)
	if err != nil {
		b.Fatal(err)
	}
	api, err := httpapi.New(&httpapi.Config{Client: c})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var sb strings.Builder
	sb.WriteString(`{"name":"bench","jobs":[{"ref":"album","kind":"album","children":[`)
	deps := make([]string, 0, 9998)
	for i := range 9998 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"ref":"t%d","kind":"thumbnail","args":{"width":%d}}`, i, i)
		deps = append(deps, fmt.Sprintf("%q", fmt.Sprintf("t%d", i)))
	}
	sb.WriteString(`]},{"ref":"publish","kind":"publish","depends_on":[` + strings.Join(deps, ",") + `]}]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		resp, err := http.Post(srv.URL+"/v1/workflows", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
