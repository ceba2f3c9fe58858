package chaos

import (
	"bytes"
	"strings"
	"testing"
)

// hist builds a history by hand: each event is sent just after the one
// before it was recorded, unless it sets Sent.
type hist struct{ events []Event }

func (h *hist) add(e Event) *hist {
	e.Seq = int64(len(h.events)) + 1
	if e.Sent == 0 && e.Kind != EventRun {
		e.Sent = e.Seq
	}
	h.events = append(h.events, e)
	return h
}

func no() *bool  { f := false; return &f }
func yes() *bool { t := true; return &t }

func run(inFlight, maxAttempts int) *hist {
	return (&hist{}).add(Event{Kind: EventRun, InFlight: inFlight, MaxAttempts: maxAttempts})
}

func enqueue(ids ...string) Event {
	return Event{Kind: EventEnqueue, Status: 202, IDs: ids, Count: len(ids)}
}
func lease(id string, attempt int, token string) Event {
	return Event{Kind: EventLease, Status: 200, Job: id, Attempt: attempt, Token: token}
}
func complete(id string, attempt int, token string, status int) Event {
	return Event{Kind: EventComplete, Job: id, Attempt: attempt, Token: token, Status: status}
}
func fail(id string, attempt int, token string, retry *bool, status int) Event {
	return Event{Kind: EventFail, Job: id, Attempt: attempt, Token: token, Retry: retry, Status: status}
}
func final(id, state string, attempt int, token string) Event {
	e := Event{Kind: EventFinal, Job: id, Status: 200, State: state, Attempt: attempt}
	if state == "succeeded" {
		e.ResultToken = token
	} else {
		e.ErrorToken = token
	}
	return e
}

// good is a history that keeps every promise: a completed and a
// permanently failed job.
func good() *hist {
	return run(8, 5).
		add(enqueue("a", "b")).
		add(lease("a", 1, "1.a")).
		add(complete("a", 1, "1.a", 200)).
		add(lease("b", 1, "1.b")).
		add(fail("b", 1, "1.b", no(), 200)).
		add(final("a", "succeeded", 1, "1.a")).
		add(final("b", "failed", 1, "1.b"))
}

func TestCheckGood(t *testing.T) {
	t.Parallel()
	cases := map[string]*hist{
		"completed and failed": good(),
		// The answer to a completion was lost (the server was killed):
		// the worker tried again and got 409, yet the first was applied.
		"completion without answer applied": run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(complete("a", 1, "1.a", 0)).
			add(Event{Kind: EventKill}).
			add(complete("a", 1, "1.a", 409)).
			add(final("a", "succeeded", 1, "1.a")),
		// The database connection broke during the completion's commit:
		// the node answered 503 store_unavailable, yet the commit held,
		// and the retry found the lease gone.
		"completion answered store_unavailable applied": run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(Event{Kind: EventComplete, Job: "a", Attempt: 1, Token: "1.a", Status: 503, Code: "store_unavailable"}).
			add(Event{Kind: EventDBRestart}).
			add(complete("a", 1, "1.a", 409)).
			add(final("a", "succeeded", 1, "1.a")),
		// A lease answer was lost; the lease expired and the job ran
		// again, a duplicate within the bound.
		"rerun after a kill": run(1, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(complete("a", 1, "1.a", 0)).
			add(Event{Kind: EventKill}).
			add(lease("a", 2, "2.a")).
			add(complete("a", 2, "2.a", 200)).
			add(final("a", "succeeded", 2, "2.a")),
		"attempts used up": run(8, 2).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(fail("a", 1, "1.a", yes(), 200)).
			add(lease("a", 2, "2.a")).
			add(fail("a", 2, "2.a", yes(), 200)).
			add(final("a", "failed", 2, "2.a")),
		"retry then success": run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(fail("a", 1, "1.a", yes(), 200)).
			add(lease("a", 2, "2.a")).
			add(complete("a", 2, "2.a", 200)).
			add(final("a", "succeeded", 2, "2.a")),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if v := Check(h.events); !v.OK() {
				t.Errorf("a good history fails:\n%s", v)
			}
		})
	}
}

// TestCheckBad: each hand-made history breaks one promise, and Check
// catches it in the counter named.
func TestCheckBad(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		h       *hist
		counter func(*Verdict) int
	}{
		{"lost: gone after the run", run(8, 5).
			add(enqueue("a")).
			add(Event{Kind: EventFinal, Job: "a", Status: 404}),
			func(v *Verdict) int { return v.Lost }},
		{"lost: never read", run(8, 5).add(enqueue("a")),
			func(v *Verdict) int { return v.Lost }},
		{"lost: not final after draining", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(final("a", "available", 1, "")),
			func(v *Verdict) int { return v.Lost }},
		{"stale completion answered 200", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(lease("a", 2, "2.a")). // the first lease expired
			add(complete("a", 1, "1.a", 200)).
			add(final("a", "succeeded", 1, "1.a")),
			func(v *Verdict) int { return v.StaleApplied }},
		{"stale failure answered 200", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(lease("a", 2, "2.a")).
			add(fail("a", 1, "1.a", yes(), 200)).
			add(complete("a", 2, "2.a", 200)).
			add(final("a", "succeeded", 2, "2.a")),
			func(v *Verdict) int { return v.StaleApplied }},
		{"stale result kept though its answer was lost", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(complete("a", 1, "1.a", 0)).
			add(lease("a", 2, "2.a")).
			add(complete("a", 2, "2.a", 0)).
			add(final("a", "succeeded", 2, "1.a")),
			func(v *Verdict) int { return v.StaleApplied }},
		{"two attempts applied", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(complete("a", 1, "1.a", 200)).
			add(lease("a", 2, "2.a")).
			add(complete("a", 2, "2.a", 200)).
			add(final("a", "succeeded", 2, "2.a")),
			func(v *Verdict) int { return v.StaleApplied }},
		{"leased after it succeeded", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(complete("a", 1, "1.a", 200)).
			add(lease("a", 2, "2.a")).
			add(final("a", "succeeded", 1, "1.a")),
			func(v *Verdict) int { return v.LeasedAfterFinal }},
		{"succeeded with no completion", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(fail("a", 1, "1.a", yes(), 200)).
			add(final("a", "succeeded", 1, "1.a")),
			func(v *Verdict) int { return v.SucceededWithoutCompletion }},
		{"succeeded after a completion refused before the store", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(Event{Kind: EventComplete, Job: "a", Attempt: 1, Token: "1.a", Status: 503, Code: "draining"}).
			add(final("a", "succeeded", 1, "1.a")),
			func(v *Verdict) int { return v.SucceededWithoutCompletion }},
		{"succeeded never leased", run(8, 5).
			add(enqueue("a")).
			add(final("a", "succeeded", 0, "")),
			func(v *Verdict) int { return v.SucceededWithoutCompletion }},
		{"failed though completed", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(complete("a", 1, "1.a", 200)).
			add(final("a", "failed", 1, "1.a")),
			func(v *Verdict) int { return v.WrongFinal }},
		{"failed with attempts left and no permanent failure", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(fail("a", 1, "1.a", yes(), 200)).
			add(final("a", "failed", 1, "1.a")),
			func(v *Verdict) int { return v.WrongFinal }},
		{"succeeded though failed for good", run(8, 5).
			add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(complete("a", 1, "1.a", 0)).
			add(fail("a", 1, "1.a", no(), 200)).
			add(final("a", "succeeded", 1, "1.a")),
			func(v *Verdict) int { return v.WrongFinal }},
		{"cancelled by nobody", run(8, 5).
			add(enqueue("a")).
			add(final("a", "cancelled", 0, "")),
			func(v *Verdict) int { return v.WrongFinal }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := Check(c.h.events)
			if v.OK() || c.counter(v) == 0 || len(v.Violations) == 0 {
				t.Errorf("the violation is not caught:\n%s", v)
			}
		})
	}
}

func TestCheckDuplicates(t *testing.T) {
	t.Parallel()
	// Job a ran three times, twice after its first completion was sent.
	rerun := func(h *hist) *hist {
		return h.add(enqueue("a")).
			add(lease("a", 1, "1.a")).
			add(complete("a", 1, "1.a", 0)).
			add(lease("a", 2, "2.a")).
			add(complete("a", 2, "2.a", 0)).
			add(lease("a", 3, "3.a")).
			add(complete("a", 3, "3.a", 200)).
			add(final("a", "succeeded", 3, "3.a"))
	}
	// One job in flight at most and no fault: the bound is 1 × max(1, 0).
	v := Check(rerun(run(1, 5)).events)
	if v.Duplicates != 2 || v.DuplicateBound != 1 || v.OK() {
		t.Errorf("duplicates %d (bound %d), OK %v; want 2 over the bound 1:\n%s", v.Duplicates, v.DuplicateBound, v.OK(), v)
	}
	// A kill and a database restart explain two.
	v = Check(rerun(run(1, 5).add(Event{Kind: EventKill}).add(Event{Kind: EventDBRestart})).events)
	if v.Duplicates != 2 || v.DuplicateBound != 2 || !v.OK() {
		t.Errorf("duplicates %d (bound %d), OK %v; want 2 within the bound 2:\n%s", v.Duplicates, v.DuplicateBound, v.OK(), v)
	}
}

func TestCheckEmpty(t *testing.T) {
	t.Parallel()
	if v := Check(run(8, 5).events); v.OK() {
		t.Errorf("a history with no acknowledged job passes:\n%s", v)
	}
}

func TestHistoryRoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := NewHistory(&buf)
	for _, e := range good().events {
		e.Seq = 0
		h.Add(e)
	}
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	events, err := ReadHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(good().events) || !Check(events).OK() {
		t.Errorf("read back %d events, verdict:\n%s", len(events), Check(events))
	}
	if _, err := ReadHistory(strings.NewReader("{\"seq\":1}\nnot json\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a broken line: %v", err)
	}
}
