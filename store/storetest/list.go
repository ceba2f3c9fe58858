package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testList(t *testing.T, open opener) {
	t.Run("NewestFirst", func(t *testing.T) {
		h := setup(t, open)
		var made []string
		for i := range 5 {
			var j *store.Job
			if i == 2 {
				j = h.jobIn(store.StateRunning)
			} else {
				j = h.enqueue()
			}
			made = append(made, j.ID)
			h.advance(time.Second)
		}
		slices.Reverse(made)
		res, err := h.d.List(h.ctx, &store.ListParams{})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if got := ids(res.Jobs); !slices.Equal(got, made) {
			t.Errorf("List: %v, want newest first %v", got, made)
		}
		if res.Next != "" {
			t.Errorf("List of 5 jobs with the default limit: Next = %q, want empty", res.Next)
		}
		for _, j := range res.Jobs {
			if j.LeaseToken != "" {
				t.Errorf("List: job %s carries a LeaseToken; only claims do", j.ID)
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		h := setup(t, open)
		step := func() { h.advance(time.Second) }
		j1 := h.jobIn(store.StateAvailable, withKind("a"), withQueue("q1"))
		step()
		j2 := h.jobIn(store.StateRunning, withKind("b"), withQueue("q1"))
		step()
		j3 := h.jobIn(store.StateSucceeded, withKind("a"), withQueue("q2"))
		step()
		j4 := h.jobIn(store.StateScheduled, withKind("b"), withQueue("q2"))
		step()
		j5 := h.jobIn(store.StateAvailable, withKind("a"), withQueue("q1"), withParent(j1.ID))
		step()
		j6 := h.jobIn(store.StateCancelled, withKind("b"), withQueue("q1"), withParent(j1.ID))
		all := []*store.Job{j1, j2, j3, j4, j5, j6}
		cases := []struct {
			name string
			p    store.ListParams
			want []*store.Job
		}{
			{"None", store.ListParams{}, all},
			{"StateAvailable", store.ListParams{State: store.StateAvailable}, []*store.Job{j1, j5}},
			{"StateRunning", store.ListParams{State: store.StateRunning}, []*store.Job{j2}},
			{"StateFailed", store.ListParams{State: store.StateFailed}, nil},
			{"Kind", store.ListParams{Kind: "a"}, []*store.Job{j1, j3, j5}},
			{"Queue", store.ListParams{Queue: "q2"}, []*store.Job{j3, j4}},
			{"ParentID", store.ListParams{ParentID: j1.ID}, []*store.Job{j5, j6}},
			{"KindAndQueue", store.ListParams{Kind: "b", Queue: "q1"}, []*store.Job{j2, j6}},
			{"StateAndKind", store.ListParams{State: store.StateSucceeded, Kind: "b"}, nil},
			{"All", store.ListParams{State: store.StateCancelled, Kind: "b", Queue: "q1", ParentID: j1.ID}, []*store.Job{j6}},
			{"UnknownQueue", store.ListParams{Queue: "nope"}, nil},
		}
		for _, c := range cases {
			for _, limit := range []int{0, 1} {
				c.p.Limit = limit
				got := h.listAll(c.p)
				want := slices.Clone(c.want)
				slices.Reverse(want)
				if !slices.Equal(ids(got), ids(want)) {
					t.Errorf("%s (limit %d): List %+v gave %v, want %v", c.name, limit, c.p, ids(got), ids(want))
				}
			}
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		cases := []struct {
			name        string
			limit       int
			insertAfter bool // enqueue newer jobs after the first page
		}{
			{"Limit7", 7, false},
			{"Limit5", 5, false}, // the last page is full
			{"Limit1", 1, false},
			{"NewJobsWhilePaging", 7, true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				// 25 jobs in 5 batches: jobs of one batch share a CreatedAt.
				var made []*store.Job
				for range 5 {
					made = append(made, h.enqueueMany(5)...)
					h.advance(time.Second)
				}
				p := store.ListParams{Limit: c.limit}
				var got []*store.Job
				seen := map[string]int{}
				for page := 0; page < 100; page++ {
					res, err := h.d.List(h.ctx, &p)
					if err != nil {
						t.Fatalf("List page %d: %v", page, err)
					}
					if len(res.Jobs) > c.limit {
						t.Errorf("page %d has %d jobs, want at most %d", page, len(res.Jobs), c.limit)
					}
					for _, j := range res.Jobs {
						seen[j.ID]++
					}
					got = append(got, res.Jobs...)
					if page == 0 && c.insertAfter {
						h.enqueueMany(3)
					}
					if res.Next == "" {
						break
					}
					p.Cursor = res.Next
				}
				for _, j := range made {
					if seen[j.ID] != 1 {
						t.Errorf("job %s was listed %d times, want once", j.ID, seen[j.ID])
					}
				}
				if len(got) != len(made) {
					t.Errorf("pages held %d jobs, want %d (jobs enqueued while paging are newer than the cursor)", len(got), len(made))
				}
				wantNewestFirst(t, got)
			})
		}
	})

	t.Run("PaginationWithFilter", func(t *testing.T) {
		h := setup(t, open)
		for range 5 {
			h.enqueueMany(5)
			h.advance(time.Second)
		}
		h.claim(store.ClaimParams{Max: 10})
		got := h.listAll(store.ListParams{State: store.StateAvailable, Limit: 4})
		if len(got) != 15 {
			t.Errorf("List(state available, limit 4) across pages: %d jobs, want 15", len(got))
		}
		for _, j := range got {
			if j.State != store.StateAvailable {
				t.Errorf("List(state available): job %s is %s", j.ID, j.State)
			}
		}
		wantNewestFirst(t, got)
	})

	t.Run("LimitDefaultAndCap", func(t *testing.T) {
		h := setup(t, open)
		const n = store.MaxListLimit + 1
		h.enqueueMany(n)
		for _, c := range []struct{ limit, want int }{{0, store.DefaultListLimit}, {store.MaxListLimit * 5, store.MaxListLimit}} {
			res, err := h.d.List(h.ctx, &store.ListParams{Limit: c.limit})
			if err != nil {
				t.Fatalf("List(limit %d): %v", c.limit, err)
			}
			if len(res.Jobs) != c.want || res.Next == "" {
				t.Errorf("List(limit %d) of %d jobs: %d jobs, Next %q; want %d and a cursor", c.limit, n, len(res.Jobs), res.Next, c.want)
			}
			if c.want == store.MaxListLimit {
				rest, err := h.d.List(h.ctx, &store.ListParams{Limit: c.limit, Cursor: res.Next})
				if err != nil {
					t.Fatalf("List second page: %v", err)
				}
				if len(rest.Jobs) != 1 || rest.Next != "" {
					t.Errorf("List second page: %d jobs, Next %q; want 1 and no cursor", len(rest.Jobs), rest.Next)
				}
			}
		}
	})

	t.Run("Empty", func(t *testing.T) {
		h := setup(t, open)
		res, err := h.d.List(h.ctx, &store.ListParams{})
		if err != nil {
			t.Fatalf("List of an empty store: %v", err)
		}
		if len(res.Jobs) != 0 || res.Next != "" {
			t.Errorf("List of an empty store: %d jobs, Next %q; want none", len(res.Jobs), res.Next)
		}
	})
}

// wantNewestFirst fails the test unless jobs are ordered by CreatedAt, newest first.
func wantNewestFirst(t *testing.T, jobs []*store.Job) {
	t.Helper()
	for i := 1; i < len(jobs); i++ {
		if jobs[i].CreatedAt.After(jobs[i-1].CreatedAt) {
			t.Errorf("List: job %d (%s, created %s) comes after an older one (created %s); want newest first",
				i, jobs[i].ID, fmtTime(jobs[i].CreatedAt), fmtTime(jobs[i-1].CreatedAt))
			return
		}
	}
}
