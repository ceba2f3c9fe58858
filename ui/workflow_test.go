package ui_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/ui"
)

// step is a demo job of a workflow: ref, the refs it depends on and its
// children.
func step(t *testing.T, ref string, deps []string, children ...gantry.WorkflowJob) gantry.WorkflowJob {
	t.Helper()
	var opts *gantry.EnqueueOpts
	if len(deps) > 0 {
		opts = &gantry.EnqueueOpts{DependsOn: deps}
	}
	s, err := gantry.Step(ref, demoArgs{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Children = children
	return s
}

// diamond enqueues a workflow of five jobs and five edges: a; b and c
// depend on a, and b has a child e; d depends on b and c.
func (e *env) diamond() *gantry.EnqueuedWorkflow {
	e.t.Helper()
	t := e.t
	w := gantry.Workflow{Name: "diamond", Jobs: []gantry.WorkflowJob{
		step(t, "a", nil), step(t, "b", []string{"a"}, step(t, "e", nil)), step(t, "c", []string{"a"}),
		step(t, "d", []string{"b", "c"}),
	}}
	res, err := e.client.EnqueueWorkflow(context.Background(), w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wide enqueues a workflow of n independent jobs.
func (e *env) wide(n int) *gantry.EnqueuedWorkflow {
	e.t.Helper()
	w := gantry.Workflow{Name: "wide"}
	for i := range n {
		w.Jobs = append(w.Jobs, step(e.t, fmt.Sprintf("s%d", i), nil))
	}
	res, err := e.client.EnqueueWorkflow(context.Background(), w, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// TestWorkflow checks GET api/workflows/{id}: every job of a small
// workflow with its edges by id, only the counts of one over
// MaxGraphJobs, 404 for an unknown workflow, the read scope.
func TestWorkflow(t *testing.T) {
	e := setup(t, &options{tokens: true})
	wf := e.diamond()
	res, body := e.do("GET", prefix+"api/workflows/"+wf.Workflow.ID, readToken, "")
	if res.StatusCode != 200 {
		t.Fatalf("GET workflow: %s: %s", res.Status, body)
	}
	got := decode[ui.Workflow](t, body)
	if got.ID != wf.Workflow.ID || got.Name != "diamond" || got.State != gantry.WorkflowRunning || got.Total != 5 || got.Truncated || got.MaxJobs != ui.MaxGraphJobs {
		t.Errorf("workflow %+v", got)
	}
	if got.Counts[gantry.StateAvailable] != 2 || got.Counts[gantry.StateWaiting] != 3 {
		t.Errorf("counts %v, want 2 available (a, e) and 3 waiting", got.Counts)
	}
	id := func(ref string) string { return wf.Jobs[ref].ID }
	want := map[string]ui.WorkflowJob{
		"a": {Ref: "a", DependsOn: []string{}},
		"b": {Ref: "b", DependsOn: []string{id("a")}},
		"c": {Ref: "c", DependsOn: []string{id("a")}},
		"d": {Ref: "d", DependsOn: []string{id("b"), id("c")}},
		"e": {Ref: "e", DependsOn: []string{}, ParentID: id("b")},
	}
	if len(got.Jobs) != len(want) {
		t.Fatalf("%d jobs, want %d: %s", len(got.Jobs), len(want), body)
	}
	for _, j := range got.Jobs {
		w, ok := want[j.Ref]
		slices.Sort(j.DependsOn)
		slices.Sort(w.DependsOn)
		if !ok || j.ID != id(j.Ref) || j.Kind != "demo" || !slices.Equal(j.DependsOn, w.DependsOn) || j.ParentID != w.ParentID {
			t.Errorf("job %+v, want %+v", j, w)
		}
	}

	big := e.wide(ui.MaxGraphJobs + 1)
	res, body = e.do("GET", prefix+"api/workflows/"+big.Workflow.ID, readToken, "")
	got = decode[ui.Workflow](t, body)
	if res.StatusCode != 200 || !got.Truncated || len(got.Jobs) != 0 || got.Total != ui.MaxGraphJobs+1 || got.Counts[gantry.StateAvailable] != ui.MaxGraphJobs+1 {
		t.Errorf("a workflow over the cap: %s: truncated %v, %d jobs, total %d, counts %v", res.Status, got.Truncated, len(got.Jobs), got.Total, got.Counts)
	}
	if !strings.Contains(string(body), `"jobs":[]`) {
		t.Errorf("a workflow over the cap lists no jobs as []: %.300s", body)
	}

	for _, c := range []struct {
		path, token string
		status      int
	}{
		{"api/workflows/" + wf.Workflow.ID, "", 401},
		{"api/workflows/" + wf.Workflow.ID, workToken, 403},
		{"api/workflows/nope", readToken, 404},
		{"api/workflows/" + strings.Repeat("x", 300), readToken, 404},
	} {
		if res, body := e.do("GET", prefix+c.path, c.token, ""); res.StatusCode != c.status {
			t.Errorf("GET %.60s with %q: %s, want %d: %s", c.path, c.token, res.Status, c.status, body)
		}
	}
}

// TestPush checks GET api/push: no targets without Config.PushTargets,
// and the targets it returns with their URLs stripped of credentials.
func TestPush(t *testing.T) {
	t.Parallel()
	target := ui.PushTarget{Name: "thumbnail", Queue: "default", URL: "https://user:pw@example.com:8443/push?token=t#x",
		Min: 1, Max: 16, Limit: 5, InFlight: 3, Requests: 10, Overloads: 2, LatencySeconds: 0.5}
	shown := target
	shown.URL = "https://example.com:8443/push"
	cases := []struct {
		name string
		push func() []ui.PushTarget
		want []ui.PushTarget
	}{
		{"none configured", nil, []ui.PushTarget{}},
		{"one target", func() []ui.PushTarget { return []ui.PushTarget{target} }, []ui.PushTarget{shown}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t, &options{push: c.push})
			res, body := e.do("GET", prefix+"api/push", "", "")
			got := decode[ui.PushTargets](t, body)
			if res.StatusCode != 200 || !slices.Equal(got.Targets, c.want) || got.ReadAt.IsZero() {
				t.Errorf("%s: %s, want %+v", res.Status, body, c.want)
			}
			if len(c.want) == 0 && !strings.Contains(string(body), `"targets":[]`) {
				t.Errorf("no targets are not []: %s", body)
			}
			if strings.Contains(string(body), "pw") || strings.Contains(string(body), "token=") {
				t.Errorf("the answer shows the URL's credentials: %s", body)
			}
		})
	}
}
