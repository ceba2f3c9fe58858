package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

func testEnqueue(t *testing.T, open opener) {
	t.Run("StoresFieldsAsGiven", func(t *testing.T) {
		h := setup(t, open)
		parent := h.enqueue()
		h.advance(time.Second)
		nj := &store.NewJob{
			Kind:  "image.thumbnail:v2",
			Queue: "media_q-1",
			// Keys out of order, nesting, escapes and non-ASCII text: a
			// driver keeps the bytes as they are.
			Args: json.RawMessage(`{"z":1,"a":[1,2.5,{"k":"v"}],"s":"h\u00e9llo \"q\" ü","n":null,"b":false}`),
			Blob: &blob.Info{
				Key:         "blobs/0a/0a1b2c",
				Size:        123456,
				SHA256:      strings.Repeat("ab", 32),
				ContentType: "image/png",
			},
			Priority:    2,
			RunAt:       h.now,
			MaxAttempts: 7,
			Timeout:     90 * time.Second,
			UniqueKey:   "thumb-42",
			ParentID:    parent.ID,
			TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		}
		got := h.enqueueNew(nj)
		if got.ID == "" {
			t.Fatal("Enqueue: the job has no ID")
		}
		if got.ID == parent.ID {
			t.Fatalf("Enqueue: two jobs got the same ID %s", got.ID)
		}
		want := &store.Job{
			ID:          got.ID,
			Kind:        nj.Kind,
			Queue:       nj.Queue,
			State:       store.StateAvailable,
			Args:        nj.Args,
			Blob:        nj.Blob,
			Priority:    2,
			MaxAttempts: 7,
			Timeout:     90 * time.Second,
			UniqueKey:   "thumb-42",
			ParentID:    parent.ID,
			RunAt:       h.now,
			CreatedAt:   h.now,
			TraceParent: nj.TraceParent,
		}
		wantJob(t, "Enqueue result", got, want)
		if got.LeaseToken != "" || !got.LeaseExpiresAt.IsZero() {
			t.Errorf("Enqueue result has a lease (%q until %s); want none", got.LeaseToken, fmtTime(got.LeaseExpiresAt))
		}
		wantJob(t, "Get after Enqueue", h.get(got.ID), want)
	})

	t.Run("InitialState", func(t *testing.T) {
		cases := []struct {
			name  string
			runAt time.Duration // relative to Now
			dep   bool          // depends on a job that has not finished
			want  store.State
		}{
			{"RunAtNow", 0, false, store.StateAvailable},
			{"RunAtPast", -time.Hour, false, store.StateAvailable},
			{"RunAtOneMicrosecondAhead", time.Microsecond, false, store.StateScheduled},
			{"RunAtFuture", time.Hour, false, store.StateScheduled},
			{"UnfinishedDependency", 0, true, store.StateWaiting},
			{"UnfinishedDependencyAndFuture", time.Hour, true, store.StateWaiting},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				opts := []jobOpt{withRunAt(h.now.Add(c.runAt))}
				if c.dep {
					dep := h.enqueue(withKind("dep"))
					opts = append(opts, withDeps(dep.ID))
				}
				j := h.enqueue(opts...)
				wantState(t, "Enqueue result", j, c.want)
				wantTime(t, "RunAt", j.RunAt, h.now.Add(c.runAt))
				wantTime(t, "CreatedAt", j.CreatedAt, h.now)
				if j.Attempt != 0 || !j.StartedAt.IsZero() || !j.FinishedAt.IsZero() {
					t.Errorf("new job: Attempt %d, StartedAt %s, FinishedAt %s; want 0, zero, zero",
						j.Attempt, fmtTime(j.StartedAt), fmtTime(j.FinishedAt))
				}
				wantJob(t, "Get after Enqueue", h.get(j.ID), j)
			})
		}
	})

	t.Run("EmptyArgsAreAnObject", func(t *testing.T) {
		h := setup(t, open)
		j := h.enqueue(withArgs(""))
		if got := h.get(j.ID).Args; !jsonEqual(got, []byte(`{}`)) {
			t.Errorf("Args of a job enqueued without args = %q, want {}", got)
		}
	})

	t.Run("LargeArgs", func(t *testing.T) {
		// The API's default limit on args is 1 MiB.
		h := setup(t, open)
		args := []byte(`{"data":"` + strings.Repeat("x", 1<<20-20) + `","n":1}`)
		j := h.enqueue(withArgs(string(args)))
		if got := h.get(j.ID).Args; string(got) != string(args) {
			t.Errorf("Args of %d bytes came back as %d bytes, not byte-equal", len(args), len(got))
		}
	})

	t.Run("BatchIDsUniqueAndInOrder", func(t *testing.T) {
		h := setup(t, open)
		const n = 100
		njs := make([]*store.NewJob, n)
		for i := range njs {
			njs[i] = h.newJob(withArgs(`{"i":` + strconv.Itoa(i) + `}`))
		}
		res, err := h.enqueueBatch(njs...)
		if err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		seen := map[string]bool{}
		for i, e := range res.Jobs {
			if e.Job.ID == "" || seen[e.Job.ID] {
				t.Fatalf("job %d: ID %q is empty or not unique", i, e.Job.ID)
			}
			seen[e.Job.ID] = true
			if string(e.Job.Args) != string(njs[i].Args) {
				t.Errorf("result %d has Args %s, want %s (results follow the order of the jobs)", i, e.Job.Args, njs[i].Args)
			}
		}
		for range 2 {
			if j := h.enqueue(); seen[j.ID] {
				t.Fatalf("a later enqueue reused ID %s", j.ID)
			}
		}
	})

	t.Run("IDsTimeOrdered", func(t *testing.T) {
		// Ids sort as the jobs were created: successive calls, and the jobs
		// of one batch in their order.
		h := setup(t, open)
		var got []string
		for range 10 {
			got = append(got, h.enqueue().ID)
		}
		got = append(got, ids(h.enqueueMany(10))...)
		got = append(got, h.enqueue().ID)
		if !slices.IsSorted(got) {
			t.Errorf("ids in order of creation %v do not sort in that order", got)
		}
	})

	t.Run("ValidBounds", func(t *testing.T) {
		allowed := "abcXYZ019._-:"
		cases := []struct {
			name string
			opt  jobOpt
		}{
			{"PriorityMin", withPriority(store.MinPriority)},
			{"PriorityMax", withPriority(store.MaxPriority)},
			{"MaxAttemptsOne", withAttempts(1)},
			{"MaxAttemptsMax", withAttempts(store.MaxMaxAttempts)},
			{"KindLongest", withKind(strings.Repeat(allowed, 10)[:store.MaxNameLen])},
			{"QueueLongest", withQueue(strings.Repeat(allowed, 10)[:store.MaxNameLen])},
			{"UniqueKeyLongest", withUniqueKey(strings.Repeat("k", store.MaxUniqueKeyLen))},
			{"ArgsWithSpaces", withArgs(" \n{ \"a\" : [ 1 , 2 ] }\t")},
			{"ArgsEmptyObject", withArgs(`{}`)},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				nj := h.newJob(c.opt)
				j := h.enqueueNew(nj)
				got := h.get(j.ID)
				if got.Kind != nj.Kind || got.Queue != nj.Queue || got.Priority != nj.Priority ||
					got.MaxAttempts != nj.MaxAttempts || got.UniqueKey != nj.UniqueKey || !jsonEqual(got.Args, nj.Args) {
					t.Errorf("stored job %+v does not hold what was enqueued: %+v", got, nj)
				}
			})
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		cases := []struct {
			name  string
			opt   jobOpt
			field string
		}{
			{"KindEmpty", withKind(""), "Kind"},
			{"KindSpace", withKind("send email"), "Kind"},
			{"KindSlash", withKind("a/b"), "Kind"},
			{"KindNonASCII", withKind("tâche"), "Kind"},
			{"KindTooLong", withKind(strings.Repeat("k", store.MaxNameLen+1)), "Kind"},
			{"QueueEmpty", withQueue(""), "Queue"},
			{"QueueSpace", withQueue("my queue"), "Queue"},
			{"QueueTooLong", withQueue(strings.Repeat("q", store.MaxNameLen+1)), "Queue"},
			{"PriorityZero", withPriority(store.MinPriority - 1), "Priority"},
			{"PriorityNegative", withPriority(-3), "Priority"},
			{"PriorityTooBig", withPriority(store.MaxPriority + 1), "Priority"},
			{"MaxAttemptsZero", withAttempts(0), "MaxAttempts"},
			{"MaxAttemptsTooBig", withAttempts(store.MaxMaxAttempts + 1), "MaxAttempts"},
			{"ArgsArray", withArgs(`[1,2]`), "Args"},
			{"ArgsString", withArgs(`"x"`), "Args"},
			{"ArgsNumber", withArgs(`42`), "Args"},
			{"ArgsNull", withArgs(`null`), "Args"},
			{"ArgsMalformed", withArgs(`{"a":`), "Args"},
			{"TimeoutNegative", withTimeout(-time.Second), "Timeout"},
			{"RunAtZero", withRunAt(time.Time{}), "RunAt"},
			{"UniqueKeyTooLong", withUniqueKey(strings.Repeat("k", store.MaxUniqueKeyLen+1)), "UniqueKey"},
			{"TraceParentTooLong", withTraceParent(strings.Repeat("0", store.MaxTraceParent+1)), "TraceParent"},
			{"DependsOnEmptyID", withDeps(""), "DependsOn[0]"},
			{"DependsOnUnknown", withDeps(store.NewID()), "DependsOn[0]"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				// A batch of four where only the third job is bad: none of
				// them may be stored.
				batch := []*store.NewJob{h.newJob(), h.newJob(withUniqueKey("u1")), h.newJob(c.opt), h.newJob(withQueue("other"))}
				res, err := h.enqueueBatch(batch...)
				wantFieldError(t, err, 2, c.field)
				if res != nil && len(res.Jobs) > 0 {
					t.Errorf("Enqueue failed but returned %d jobs", len(res.Jobs))
				}
				wantNoJobs(h)
				// The good jobs of the batch are still acceptable: in
				// particular the unique key was not taken.
				h.enqueueNew(batch[1])
			})
		}
	})

	t.Run("InvalidDuplicateDependency", func(t *testing.T) {
		h := setup(t, open)
		dep := h.enqueue()
		_, err := h.enqueueBatch(h.newJob(), h.newJob(withDeps(dep.ID, dep.ID)))
		wantFieldError(t, err, 1, "DependsOn[1]")
		if got := len(h.listAll(store.ListParams{})); got != 1 {
			t.Errorf("after a refused batch the store holds %d jobs, want 1 (the dependency)", got)
		}
	})
}

// wantFieldError fails the test unless err wraps ErrInvalid and a
// *FieldError naming field at index.
func wantFieldError(t *testing.T, err error, index int, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Enqueue: no error, want ErrInvalid naming jobs[%d].%s", index, field)
	}
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Enqueue: error %v does not wrap ErrInvalid", err)
	}
	var fe *store.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Enqueue: error %v carries no *store.FieldError", err)
	}
	if fe.Index != index || fe.Field != field {
		t.Errorf("Enqueue: FieldError names jobs[%d].%s (%v), want jobs[%d].%s", fe.Index, fe.Field, fe, index, field)
	}
}

// wantNoJobs fails the test if the store holds any job.
func wantNoJobs(h *harness) {
	h.t.Helper()
	if jobs := h.listAll(store.ListParams{}); len(jobs) != 0 {
		h.t.Errorf("List: the store holds %d jobs, want none", len(jobs))
	}
	for name, q := range h.queues() {
		for s, n := range q.Counts {
			if n != 0 {
				h.t.Errorf("Queues: queue %q counts %d %s jobs, want none", name, n, s)
			}
		}
	}
}
