package storetest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// PropertySeedsEnv names the environment variable that sets how many
// random workflows the Workflows/Property test runs (default
// defaultPropertySeeds, fewer under -short).
const PropertySeedsEnv = "GANTRY_WORKFLOW_SEEDS"

const defaultPropertySeeds = 200

func propertySeeds() int {
	if v, err := strconv.Atoi(os.Getenv(PropertySeedsEnv)); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 40
	}
	return defaultPropertySeeds
}

// testWorkflowProperty runs random workflows (DAGs of up to 200 jobs, some
// nested as children, some running whatever their dependencies' outcome)
// to their end, failing and cancelling random jobs, and checks that no job
// is claimed before what it waits for allows it, that every job ends in
// the state the rules dictate, and that the workflow's record counts its
// jobs right.
func testWorkflowProperty(t *testing.T, open opener) {
	seeds := propertySeeds()
	// Several seeds share a store, one workflow each, to keep the cost of
	// opening stores down.
	const perStore = 20
	for first := 0; first < seeds; first += perStore {
		t.Run(fmt.Sprintf("Seeds%d-%d", first, min(first+perStore, seeds)-1), func(t *testing.T) {
			h := setup(t, open)
			for seed := first; seed < min(first+perStore, seeds); seed++ {
				runRandomWorkflow(t, h, uint64(seed))
				if t.Failed() {
					t.Fatalf("seed %d failed (rerun: -run 'Workflows/Property/Seeds%d-')", seed, first)
				}
			}
		})
	}
}

type propJob struct {
	ref    string
	deps   []int // indexes this job depends on
	parent int   // index of its parent, or -1
	run    bool  // if_dependency_fails run
	waits  []int // deps and children
	job    *store.Job
	// what happened to it
	claimed, direct bool
}

func runRandomWorkflow(t *testing.T, h *harness, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// Up to 200 jobs, most of them small: the graphs' shapes matter more
	// than their sizes, and the suite stays fast on PostgreSQL.
	n := 1 + rng.IntN(1+rng.IntN(200))
	jobs := make([]*propJob, n)
	for i := range jobs {
		j := &propJob{ref: fmt.Sprintf("j%d", i), parent: -1, run: rng.IntN(6) == 0}
		if i > 0 {
			for range rng.IntN(min(i, 4) + 1) {
				d := rng.IntN(i)
				if !containsInt(j.deps, d) {
					j.deps = append(j.deps, d)
				}
			}
		}
		jobs[i] = j
	}
	// A job's parent comes after it and is none of its dependencies: every
	// edge goes from a lower index to a higher one, so there is no cycle.
	for i := range jobs {
		if i+1 < n && rng.IntN(5) == 0 {
			jobs[i].parent = i + 1 + rng.IntN(n-i-1)
		}
	}
	for i, j := range jobs {
		j.waits = append(j.waits, j.deps...)
		for c, cj := range jobs {
			if cj.parent == i && !containsInt(j.waits, c) {
				j.waits = append(j.waits, c)
			}
		}
	}
	specs := make([]wfJob, n)
	for i, j := range jobs {
		s := wfJob{ref: j.ref, run: j.run}
		for _, d := range j.deps {
			s.deps = append(s.deps, jobs[d].ref)
		}
		if j.parent >= 0 {
			s.parent = jobs[j.parent].ref
		}
		specs[i] = s
	}
	kind := h.uniqueKind()
	for i := range specs {
		specs[i].mod = func(nj *store.NewJob) { nj.Kind = kind; nj.MaxAttempts = 1 }
	}
	wf, created, err := h.enqueueWorkflow(fmt.Sprintf("seed-%d", seed), specs...)
	if err != nil {
		t.Fatalf("seed %d: enqueue: %v", seed, err)
	}
	byID := map[string]*propJob{}
	for _, j := range jobs {
		j.job = created[j.ref]
		byID[strings.ToLower(j.job.ID)] = j
	}
	// states reads every job of the workflow in one listing.
	states := map[string]store.State{}
	snapshot := func() {
		clear(states)
		for _, j := range h.listAll(store.ListParams{WorkflowID: wf, Limit: store.MaxListLimit}) {
			states[strings.ToLower(j.ID)] = j.State
		}
	}
	state := func(j *propJob) store.State { return states[strings.ToLower(j.job.ID)] }
	for round := 0; ; round++ {
		if round > 10*n+10 {
			t.Fatalf("seed %d: the workflow does not end", seed)
		}
		snapshot()
		// Now and then, cancel a job that is not final.
		if rng.IntN(8) == 0 {
			j := jobs[rng.IntN(n)]
			if !state(j).Final() {
				h.cancel(j.job.ID, "cancelled by the property test")
				j.direct = true
				snapshot()
			}
		}
		claimed := h.claim(store.ClaimParams{Kinds: []string{kind}, Max: 1 + rng.IntN(20)})
		if len(claimed) == 0 {
			break
		}
		var items []store.FinishItem
		for _, c := range claimed {
			j := byID[strings.ToLower(c.ID)]
			if j == nil {
				t.Fatalf("seed %d: claimed a job %s that is not of the workflow", seed, c.ID)
			}
			j.claimed = true
			for _, w := range j.waits {
				st := state(jobs[w])
				if !(st == store.StateSucceeded || j.run && st.Final()) {
					t.Errorf("seed %d: %s started while %s (which it waits for) is %s", seed, j.ref, jobs[w].ref, st)
				}
			}
			it := store.FinishItem{ID: c.ID, LeaseToken: c.LeaseToken, Outcome: store.OutcomeSucceeded}
			if rng.IntN(8) == 0 {
				it = h.failItem(c, "permanent failure", 0)
				it.Permanent = true
			}
			items = append(items, it)
		}
		for i, err := range h.finish(items...).Errs {
			if err != nil {
				t.Fatalf("seed %d: finish of %s: %v", seed, items[i].ID, err)
			}
		}
	}
	snapshot()
	counts := map[store.State]int64{}
	for _, j := range jobs {
		got := &store.Job{State: state(j)}
		if !got.State.Final() || got.State == store.StateCancelled {
			got = h.get(j.job.ID)
		}
		counts[got.State]++
		allOK, allFinal := true, true
		for _, w := range j.waits {
			st := state(jobs[w])
			allOK = allOK && st == store.StateSucceeded
			allFinal = allFinal && st.Final()
		}
		switch {
		case !got.State.Final():
			t.Errorf("seed %d: %s ends %s", seed, j.ref, got.State)
		case j.claimed:
			// It ran: its waits allowed it (checked at claim).
		case j.direct:
			// Cancelled by hand before it ran.
		case j.run:
			t.Errorf("seed %d: %s (run anyway) never ran: it is %s, its waits final=%v", seed, j.ref, got.State, allFinal)
		case allOK:
			t.Errorf("seed %d: %s never ran though everything it waits for succeeded; it is %s (%s)", seed, j.ref, got.State, got.CancelReason)
		case got.State != store.StateCancelled || !strings.HasPrefix(got.CancelReason, "dependency "):
			t.Errorf("seed %d: %s ends %s (%q), want cancelled for a dependency", seed, j.ref, got.State, got.CancelReason)
		}
	}
	w := h.workflow(wf)
	for _, st := range store.States {
		if w.Counts[st] != counts[st] {
			t.Errorf("seed %d: the workflow counts %d jobs %s, the jobs say %d", seed, w.Counts[st], st, counts[st])
		}
	}
	if want := store.WorkflowStateOf(counts); w.State != want || w.FinishedAt.IsZero() {
		t.Errorf("seed %d: the workflow is %s (finished %v), want %s", seed, w.State, w.FinishedAt, want)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
