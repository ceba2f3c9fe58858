package gantry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/engine"
	"github.com/gantry-dev/gantry/store"
)

// fuzzWorkflow builds a workflow from fuzz bytes: each pair of bytes is a
// job (its parent, its dependency), refs r0, r1, ..., and a byte that
// names no job stands for a missing ref.
func fuzzWorkflow(data []byte) (*Workflow, map[string][]string) {
	n := len(data) / 2
	edges := map[string][]string{} // ref -> refs it waits for
	jobs := make([]*WorkflowJob, n)
	parent := make([]int, n)
	for i := range n {
		p, d := int(data[2*i]), int(data[2*i+1])
		jobs[i] = &WorkflowJob{Ref: fmt.Sprintf("r%d", i), Kind: "k", Opts: &EnqueueOpts{}}
		if d < 2*n {
			dep := fmt.Sprintf("r%d", d/2)
			if d%2 == 1 {
				dep = "missing"
			}
			jobs[i].Opts.DependsOn = []string{dep}
			edges[jobs[i].Ref] = append(edges[jobs[i].Ref], dep)
		}
		parent[i] = -1
		if p < i {
			parent[i] = p
		}
	}
	w := &Workflow{}
	// Children are attached bottom-up so that a parent holds its whole
	// subtree.
	for i := n - 1; i >= 0; i-- {
		if parent[i] >= 0 {
			jobs[parent[i]].Children = append([]WorkflowJob{*jobs[i]}, jobs[parent[i]].Children...)
			edges[jobs[parent[i]].Ref] = append(edges[jobs[parent[i]].Ref], jobs[i].Ref)
		}
	}
	for i := range n {
		if parent[i] < 0 {
			w.Jobs = append(w.Jobs, *jobs[i])
		}
	}
	return w, edges
}

// FuzzPlanWorkflow checks the workflow graph validation: a workflow is
// planned exactly when its refs resolve and it has no cycle; a reported
// cycle is one; a planned workflow has one id per ref, every edge between
// them, and children under their parents.
func FuzzPlanWorkflow(f *testing.F) {
	for _, s := range [][]byte{{255, 255}, {255, 0, 0, 255}, {255, 2, 255, 0}, {255, 255, 0, 0, 1, 2}, {255, 1}, {0, 0}} {
		f.Add(s)
	}
	c := &Client{cfg: engine.Config{MaxAttempts: DefaultMaxAttempts}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 400 {
			data = data[:400]
		}
		w, edges := fuzzWorkflow(data)
		p, err := planWorkflow(w, 0, time.Unix(1e9, 0), c.newJob)
		acyclic, missing := checkGraph(edges)
		switch {
		case len(w.Jobs) == 0:
			if err == nil {
				t.Fatal("an empty workflow was planned")
			}
			return
		case err == nil && (!acyclic || missing):
			t.Fatalf("planned a workflow with a cycle (%v) or a missing ref (%v): %v", !acyclic, missing, edges)
		case err != nil && acyclic && !missing:
			t.Fatalf("refused a valid workflow: %v (%v)", err, edges)
		}
		if err != nil {
			var we *WorkflowError
			if !errors.As(err, &we) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not a *WorkflowError", err)
			}
			if len(we.Cycle) > 0 {
				if we.Cycle[0] != we.Cycle[len(we.Cycle)-1] {
					t.Fatalf("cycle %v does not close", we.Cycle)
				}
				for i := 0; i+1 < len(we.Cycle); i++ {
					if !containsString(edges[we.Cycle[i]], we.Cycle[i+1]) {
						t.Fatalf("cycle %v: %s does not wait for %s", we.Cycle, we.Cycle[i], we.Cycle[i+1])
					}
				}
			}
			return
		}
		ids := map[string]string{}
		for i, j := range p.params.Jobs {
			if j.Ref != p.refs[i] || ids[j.Ref] != "" || !store.ValidID(j.ID) {
				t.Fatalf("job %d: ref %q, id %q", i, j.Ref, j.ID)
			}
			ids[j.Ref] = j.ID
		}
		for i, j := range p.params.Jobs {
			for k, d := range j.DependsOn {
				if d != ids[edges[j.Ref][0]] || k > 0 {
					t.Fatalf("%s depends on %v, want %v", j.Ref, j.DependsOn, edges[j.Ref])
				}
			}
			if j.ParentID != "" && !containsString(edges[refOf(ids, j.ParentID)], p.refs[i]) {
				t.Fatalf("%s has parent %s, which does not wait for it", j.Ref, j.ParentID)
			}
		}
		if _, err := json.Marshal(p.params.Jobs); err != nil {
			t.Fatal(err)
		}
	})
}

func refOf(ids map[string]string, id string) string {
	for r, i := range ids {
		if i == id {
			return r
		}
	}
	return ""
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkGraph reports whether edges (ref -> refs it waits for) have no
// cycle, and whether some edge names a missing ref.
func checkGraph(edges map[string][]string) (acyclic, missing bool) {
	for _, ds := range edges {
		for _, d := range ds {
			if strings.HasPrefix(d, "missing") {
				missing = true
			}
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var visit func(r string) bool
	visit = func(r string) bool {
		switch mark[r] {
		case onPath:
			return false
		case done:
			return true
		}
		mark[r] = onPath
		for _, d := range edges[r] {
			if !visit(d) {
				return false
			}
		}
		mark[r] = done
		return true
	}
	for r := range edges {
		if !visit(r) {
			return false, missing
		}
	}
	return true, missing
}
