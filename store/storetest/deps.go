package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testDependencies(t *testing.T, open opener) {
	t.Run("WaitingUntilAllSucceed", func(t *testing.T) {
		h := setup(t, open)
		a := h.enqueue(withKind("a"))
		b := h.enqueue(withKind("b"))
		c := h.enqueue(withKind("c"), withDeps(a.ID, b.ID))
		wantState(t, "a job with unfinished dependencies", c, store.StateWaiting)
		if got := h.get(c.ID).DependsOn; !slices.Equal(got, []string{a.ID, b.ID}) {
			t.Errorf("DependsOn = %v, want %v", got, []string{a.ID, b.ID})
		}
		claimed := h.claim(store.ClaimParams{})
		if !sameIDs(ids(claimed), []string{a.ID, b.ID}) {
			t.Fatalf("Claim took %v, want the two dependencies %v", ids(claimed), []string{a.ID, b.ID})
		}
		ja, jb := claimed[0], claimed[1]
		if ja.ID != a.ID {
			ja, jb = jb, ja
		}
		h.advance(time.Second)
		h.succeed(ja)
		wantState(t, "after one of two dependencies succeeded", h.get(c.ID), store.StateWaiting)
		h.claimNone("default")
		h.advance(time.Second)
		h.fail(jb, 0) // retrying is not succeeded
		wantState(t, "while a dependency is retrying", h.get(c.ID), store.StateWaiting)
		jb = h.claimJob(b)
		h.succeed(jb)
		wantState(t, "after both dependencies succeeded", h.get(c.ID), store.StateAvailable)
		if got := h.claimOne("default"); got.ID != c.ID {
			t.Errorf("claim took %s, want the dependent %s", got.ID, c.ID)
		}
	})

	t.Run("RunAtStillHolds", func(t *testing.T) {
		h := setup(t, open)
		a := h.enqueue(withKind("a"))
		c := h.enqueue(withKind("c"), withDeps(a.ID), withRunAt(h.now.Add(time.Hour)))
		h.succeed(h.claimJob(a))
		h.claimNone("default")
		h.advance(time.Hour - time.Second)
		h.claimNone("default")
		h.advance(time.Second)
		if got := h.claimOne("default"); got.ID != c.ID {
			t.Errorf("claim at RunAt took %s, want %s", got.ID, c.ID)
		}
	})

	t.Run("FailureCancelsDependents", func(t *testing.T) {
		cases := []struct {
			name     string
			attempts int
			end      func(h *harness, a *store.Job)
		}{
			{"FailedPermanently", 3, func(h *harness, a *store.Job) { h.failPermanently(h.claimJob(a)) }},
			{"FailedAttemptsUsedUp", 1, func(h *harness, a *store.Job) { h.fail(h.claimJob(a), time.Minute) }},
			{"Cancelled", 3, func(h *harness, a *store.Job) { h.cancel(a.ID, "stop") }},
			{"CancelledRunning", 3, func(h *harness, a *store.Job) { h.claimJob(a); h.cancel(a.ID, "stop") }},
			{"CancelledByHandler", 3, func(h *harness, a *store.Job) {
				j := h.claimJob(a)
				h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeCancelled,
					Error: &store.AttemptError{Attempt: 1, At: h.now, Message: "gave up"}})
			}},
			{"RescuedOnLastAttempt", 1, func(h *harness, a *store.Job) {
				h.claimJob(a)
				h.advance(leaseFor + time.Second)
				if got := h.rescue(0); len(got) != 1 {
					h.t.Fatalf("Rescue: rescued %v, want [%s]", ids(got), a.ID)
				}
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				a := h.enqueue(withKind("a"), withAttempts(c.attempts))
				x := h.enqueue(withKind("x"))
				b := h.enqueue(withKind("b"), withDeps(a.ID))
				cc := h.enqueue(withKind("c"), withDeps(b.ID)) // A <- B <- C
				d := h.enqueue(withKind("d"), withDeps(x.ID, a.ID))
				e := h.enqueue(withKind("e"), withDeps(x.ID))
				h.advance(time.Second)
				c.end(h, a)
				for _, j := range []*store.Job{b, cc, d} {
					got := h.get(j.ID)
					wantState(t, "dependent ("+j.Kind+") of a job that did not succeed", got, store.StateCancelled)
					if got.CancelReason == "" {
						t.Errorf("dependent %s was cancelled without a CancelReason", j.Kind)
					}
					if got.FinishedAt.IsZero() {
						t.Errorf("dependent %s was cancelled without a FinishedAt", j.Kind)
					}
				}
				wantState(t, "dependent of an unrelated job", h.get(e.ID), store.StateWaiting)
				h.succeed(h.claimJob(x))
				wantState(t, "dependent of the unrelated job after it succeeded", h.get(e.ID), store.StateAvailable)
				wantState(t, "cancelled dependent after its other dependency succeeded", h.get(d.ID), store.StateCancelled)
				h.advance(time.Hour)
				if got := h.claimOne("default"); got.ID != e.ID {
					t.Errorf("claim took %s (%s), want only %s", got.ID, got.Kind, e.ID)
				}
				h.claimNone("default")
			})
		}
	})

	t.Run("CancelWaitingCascades", func(t *testing.T) {
		h := setup(t, open)
		a := h.enqueue(withKind("a"))
		b := h.enqueue(withKind("b"), withDeps(a.ID))
		c := h.enqueue(withKind("c"), withDeps(b.ID))
		h.cancel(b.ID, "not wanted")
		wantState(t, "dependent of a cancelled waiting job", h.get(c.ID), store.StateCancelled)
		wantState(t, "the dependency of the cancelled job", h.get(a.ID), store.StateAvailable)
	})

	t.Run("DependOnFinished", func(t *testing.T) {
		cases := []struct {
			name  string
			deps  []store.State
			runAt time.Duration
			want  store.State
		}{
			{"Succeeded", []store.State{store.StateSucceeded}, 0, store.StateAvailable},
			{"SucceededRunAtLater", []store.State{store.StateSucceeded}, time.Hour, store.StateScheduled},
			{"Failed", []store.State{store.StateFailed}, 0, store.StateCancelled},
			{"Cancelled", []store.State{store.StateCancelled}, 0, store.StateCancelled},
			{"SucceededAndAvailable", []store.State{store.StateSucceeded, store.StateAvailable}, 0, store.StateWaiting},
			{"SucceededAndFailed", []store.State{store.StateSucceeded, store.StateFailed}, 0, store.StateCancelled},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				var deps []string
				for _, s := range c.deps {
					deps = append(deps, h.jobIn(s).ID)
				}
				h.advance(time.Second)
				j := h.enqueue(withDeps(deps...), withRunAt(h.now.Add(c.runAt)))
				wantState(t, "Enqueue result", j, c.want)
				if c.want == store.StateCancelled {
					if j.CancelReason == "" {
						t.Errorf("a job created cancelled has no CancelReason")
					}
					wantTime(t, "FinishedAt of a job created cancelled", j.FinishedAt, h.now)
				}
				wantJob(t, "Get after Enqueue", h.get(j.ID), j)
			})
		}
	})

	t.Run("UnknownDependency", func(t *testing.T) {
		h := setup(t, open)
		known := h.enqueue()
		_, err := h.enqueueBatch(h.newJob(), h.newJob(withDeps(known.ID, store.NewID())))
		wantFieldError(t, err, 1, "DependsOn[1]")
		if got := h.listAll(store.ListParams{}); len(got) != 1 {
			t.Errorf("after the refused batch the store holds %d jobs, want 1", len(got))
		}
	})

	t.Run("RetryBlockedByFailedDependency", func(t *testing.T) {
		h := setup(t, open)
		a := h.enqueue(withKind("a"))
		b := h.enqueue(withKind("b"), withDeps(a.ID))
		c := h.enqueue(withKind("c"), withDeps(b.ID))
		h.failPermanently(h.claimJob(a))
		wantState(t, "dependent", h.get(b.ID), store.StateCancelled)
		_, err := h.d.Retry(h.ctx, &store.RetryParams{ID: b.ID, Now: h.now})
		wantTransitionError(t, "Retry of a job whose dependency failed", err, b.ID, store.StateCancelled)
		wantState(t, "Get after the refused Retry", h.get(b.ID), store.StateCancelled)
		// Retrying the dependency revives the dependents it cancelled,
		// transitively: they wait again.
		h.retry(a.ID)
		for _, j := range []*store.Job{b, c} {
			got := h.get(j.ID)
			wantState(t, "dependent ("+j.Kind+") after its dependency was retried", got, store.StateWaiting)
			if got.CancelReason != "" || !got.FinishedAt.IsZero() {
				t.Errorf("revived %s keeps CancelReason %q and FinishedAt %s", j.Kind, got.CancelReason, fmtTime(got.FinishedAt))
			}
		}
		h.succeed(h.claimJob(a))
		wantState(t, "the revived dependent after its dependency succeeded", h.get(b.ID), store.StateAvailable)
		wantState(t, "its own dependent", h.get(c.ID), store.StateWaiting)
		h.succeed(h.claimJob(b))
		wantState(t, "the second revived dependent", h.get(c.ID), store.StateAvailable)
	})

	t.Run("RetryRevivesOnlyWhatItCancelled", func(t *testing.T) {
		h := setup(t, open)
		a := h.enqueue(withKind("a"))
		x := h.enqueue(withKind("x"))
		b := h.enqueue(withKind("b"), withDeps(a.ID))
		d := h.enqueue(withKind("d"), withDeps(x.ID, a.ID)) // also depends on x, which fails first
		e := h.enqueue(withKind("e"), withDeps(a.ID))
		h.cancel(e.ID, "not wanted")
		h.failPermanently(h.claimJob(x))
		h.failPermanently(h.claimJob(a))
		h.retry(a.ID)
		wantState(t, "dependent cancelled by the retried job", h.get(b.ID), store.StateWaiting)
		wantState(t, "dependent cancelled by another dependency", h.get(d.ID), store.StateCancelled)
		wantState(t, "dependent cancelled by hand", h.get(e.ID), store.StateCancelled)
	})

	t.Run("RetryWaitsForDependencies", func(t *testing.T) {
		h := setup(t, open)
		a := h.enqueue(withKind("a"))
		b := h.enqueue(withKind("b"), withDeps(a.ID))
		h.cancel(b.ID, "changed my mind")
		wantState(t, "Retry of a job whose dependency has not finished", h.retry(b.ID), store.StateWaiting)
		wantState(t, "its dependency", h.get(a.ID), store.StateAvailable)
	})
}
