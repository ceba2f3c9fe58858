package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testTransitions(t *testing.T, open opener) {
	t.Run("Claim", func(t *testing.T) {
		h := setup(t, open)
		j := h.enqueue(withAttempts(4), withArgs(`{"x":1}`))
		h.advance(5 * time.Second)
		got := h.claimOne("default")
		want := clone(j)
		want.State = store.StateRunning
		want.Attempt = 1
		want.StartedAt = h.now
		wantJob(t, "claimed job", got, want)
		wantTime(t, "LeaseExpiresAt", got.LeaseExpiresAt, h.now.Add(leaseFor))
		wantJob(t, "Get of the claimed job", h.get(j.ID), want)
		h.claimNone("default")
	})

	t.Run("ClaimTokensDiffer", func(t *testing.T) {
		h := setup(t, open)
		h.enqueueMany(5)
		jobs := h.claim(store.ClaimParams{Max: 5})
		if len(jobs) != 5 {
			t.Fatalf("Claim(max 5) of 5 available jobs: got %d", len(jobs))
		}
		tokens := map[string]bool{}
		for _, j := range jobs {
			if tokens[j.LeaseToken] {
				t.Errorf("two claimed jobs share the lease token %q", j.LeaseToken)
			}
			tokens[j.LeaseToken] = true
		}
	})

	t.Run("FinishSucceeded", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue())
		h.advance(3 * time.Second)
		result := json.RawMessage(`{"thumb":"k/1","w":256}`)
		got := h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded, Result: result})
		want := clone(j)
		want.State = store.StateSucceeded
		want.Result = result
		want.FinishedAt = h.now
		wantJob(t, "Finish result", got, want)
		wantJob(t, "Get after Finish", h.get(j.ID), want)
		if !got.State.Final() {
			t.Errorf("succeeded is not final")
		}
		// The attempt is over: its token is spent.
		h.advance(time.Second)
		_, err := h.finishOne(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded})
		wantErr(t, "second Finish with the same token", err, store.ErrLeaseLost)
		wantJob(t, "Get after a refused second Finish", h.get(j.ID), want)
	})

	t.Run("FinishFailedRetries", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(3)))
		h.advance(2 * time.Second)
		got := h.mustFinish(h.failItem(j, "boom", 10*time.Second))
		want := clone(j)
		want.State = store.StateRetrying
		want.RunAt = h.now.Add(10 * time.Second)
		want.Errors = []store.AttemptError{{Attempt: 1, At: h.now, Message: "boom"}}
		wantJob(t, "Finish(failed) with attempts left", got, want)
		wantJob(t, "Get after Finish(failed)", h.get(j.ID), want)

		// The second attempt comes at RetryAt and its failure is recorded
		// after the first.
		h.advance(10 * time.Second)
		j2 := h.claimJob(j)
		if j2.Attempt != 2 {
			t.Errorf("second claim: Attempt = %d, want 2", j2.Attempt)
		}
		if j2.LeaseToken == j.LeaseToken {
			t.Errorf("second claim reuses the first attempt's token %q", j.LeaseToken)
		}
		got = h.mustFinish(h.failItem(j2, "bang", time.Minute))
		want.Errors = append(want.Errors, store.AttemptError{Attempt: 2, At: h.now, Message: "bang"})
		if d := errorsDiff(got.Errors, want.Errors); d != "" {
			t.Errorf("Errors after two failures: %s", d)
		}
		wantState(t, "after two of three attempts failed", got, store.StateRetrying)
	})

	t.Run("FinishFailedAttemptsUsedUp", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(2)))
		h.fail(j, time.Second)
		h.advance(time.Second)
		j2 := h.claimJob(j)
		h.advance(time.Second)
		got := h.mustFinish(h.failItem(j2, "bang", time.Minute))
		wantState(t, "Finish(failed) of the last attempt", got, store.StateFailed)
		wantTime(t, "FinishedAt", got.FinishedAt, h.now)
		if got.Attempt != 2 {
			t.Errorf("Attempt = %d, want 2", got.Attempt)
		}
		want := []store.AttemptError{
			{Attempt: 1, At: h.now.Add(-2 * time.Second), Message: "attempt failed"},
			{Attempt: 2, At: h.now, Message: "bang"},
		}
		if d := errorsDiff(got.Errors, want); d != "" {
			t.Errorf("Errors: %s", d)
		}
		wantJob(t, "Get after the last attempt failed", h.get(j.ID), got)
		h.advance(time.Hour)
		h.claimNone("default")
	})

	t.Run("FinishFailedPermanent", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(5)))
		got := h.failPermanently(j)
		wantState(t, "Finish(failed, permanent) with attempts left", got, store.StateFailed)
		wantTime(t, "FinishedAt", got.FinishedAt, h.now)
		if len(got.Errors) != 1 || got.Errors[0].Message != "permanent failure" {
			t.Errorf("Errors = %+v, want one entry with the message", got.Errors)
		}
		h.advance(time.Hour)
		h.claimNone("default")
	})

	t.Run("FinishSnoozed", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(3)))
		h.fail(j, 0)
		j2 := h.claimJob(j) // attempt 2
		h.advance(time.Second)
		got := h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j2.LeaseToken, Outcome: store.OutcomeSnoozed, RetryAt: h.now.Add(time.Minute)})
		wantState(t, "Finish(snoozed)", got, store.StateScheduled)
		wantTime(t, "RunAt of a snoozed job", got.RunAt, h.now.Add(time.Minute))
		if got.Attempt != 1 {
			t.Errorf("Attempt after snoozing attempt 2 = %d, want 1 (a snooze does not spend the attempt)", got.Attempt)
		}
		if len(got.Errors) != 1 {
			t.Errorf("Errors after a snooze = %+v, want only the earlier failure", got.Errors)
		}
		if !got.FinishedAt.IsZero() {
			t.Errorf("FinishedAt of a snoozed job = %s, want zero", fmtTime(got.FinishedAt))
		}
		wantJob(t, "Get after Finish(snoozed)", h.get(j.ID), got)
		h.advance(59 * time.Second)
		h.claimNone("default")
		h.advance(time.Second)
		if j3 := h.claimJob(j); j3.Attempt != 2 {
			t.Errorf("claim after the snooze: Attempt = %d, want 2", j3.Attempt)
		}
	})

	t.Run("FinishCancelled", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(3)))
		h.advance(time.Second)
		got := h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeCancelled,
			Error: &store.AttemptError{Attempt: 1, At: h.now, Message: "not needed any more"}})
		wantState(t, "Finish(cancelled)", got, store.StateCancelled)
		wantTime(t, "FinishedAt", got.FinishedAt, h.now)
		wantJob(t, "Get after Finish(cancelled)", h.get(j.ID), got)
		h.advance(time.Hour)
		h.claimNone("default")
	})

	t.Run("FinishReleased", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(1)))
		h.advance(time.Second)
		got := h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeReleased})
		wantState(t, "Finish(released)", got, store.StateAvailable)
		if got.Attempt != 0 {
			t.Errorf("Attempt after releasing attempt 1 = %d, want 0 (a release does not spend the attempt)", got.Attempt)
		}
		if len(got.Errors) != 0 {
			t.Errorf("Errors after a release = %+v, want none", got.Errors)
		}
		wantJob(t, "Get after Finish(released)", h.get(j.ID), got)
		// Available at once, and the old token is fenced off.
		j2 := h.claimJob(j)
		if j2.Attempt != 1 || j2.LeaseToken == j.LeaseToken {
			t.Errorf("claim after release: Attempt %d token %q, want attempt 1 and a token other than %q", j2.Attempt, j2.LeaseToken, j.LeaseToken)
		}
		_, err := h.finishOne(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded})
		wantErr(t, "Finish with the released attempt's token", err, store.ErrLeaseLost)
		h.succeed(j2)
	})

	t.Run("FinishWrongToken", func(t *testing.T) {
		cases := []struct {
			name  string
			token func(other *store.Job) string
		}{
			{"OtherJobsToken", func(o *store.Job) string { return o.LeaseToken }},
			{"WellFormedGuess", func(*store.Job) string { return store.NewLeaseToken(1) }},
			{"NextAttempt", func(*store.Job) string { return store.NewLeaseToken(2) }},
			{"Malformed", func(*store.Job) string { return "not-a-token" }},
			{"Empty", func(*store.Job) string { return "" }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				j := h.claimJob(h.enqueue())
				other := h.claimJob(h.enqueue())
				before := h.get(j.ID)
				h.advance(time.Second)
				got, err := h.finishOne(store.FinishItem{ID: j.ID, LeaseToken: c.token(other), Outcome: store.OutcomeSucceeded})
				wantErr(t, "Finish with a wrong token", err, store.ErrLeaseLost)
				if got != nil {
					t.Errorf("Finish with a wrong token returned job %+v, want nil", got)
				}
				wantJob(t, "Get after a refused Finish", h.get(j.ID), before)
				h.succeed(j)
				h.succeed(other)
			})
		}
	})

	t.Run("FinishNotRunning", func(t *testing.T) {
		for _, s := range []store.State{store.StateAvailable, store.StateScheduled, store.StateWaiting,
			store.StateRetrying, store.StateSucceeded, store.StateFailed, store.StateCancelled} {
			t.Run(string(s), func(t *testing.T) {
				h := setup(t, open)
				j := h.jobIn(s)
				token := j.LeaseToken
				if token == "" {
					token = store.NewLeaseToken(1)
				}
				before := h.get(j.ID)
				h.advance(time.Second)
				for _, o := range []store.Outcome{store.OutcomeSucceeded, store.OutcomeFailed, store.OutcomeReleased} {
					_, err := h.finishOne(store.FinishItem{ID: j.ID, LeaseToken: token, Outcome: o, RetryAt: h.now,
						Error: &store.AttemptError{Attempt: 1, At: h.now, Message: "x"}})
					wantErr(t, "Finish("+string(o)+") of a "+string(s)+" job", err, store.ErrLeaseLost)
				}
				wantJob(t, "Get after refused Finishes", h.get(j.ID), before)
			})
		}
	})

	t.Run("FinishUnknownID", func(t *testing.T) {
		h := setup(t, open)
		_, err := h.finishOne(store.FinishItem{ID: store.NewID(), LeaseToken: store.NewLeaseToken(1), Outcome: store.OutcomeSucceeded})
		wantErr(t, "Finish of an unknown job", err, store.ErrNotFound)
	})

	t.Run("FinishMixedBatch", func(t *testing.T) {
		h := setup(t, open)
		stale := h.claimJob(h.enqueue())
		h.mustFinish(store.FinishItem{ID: stale.ID, LeaseToken: stale.LeaseToken, Outcome: store.OutcomeReleased})
		staleNow := h.claimJob(stale)
		good1 := h.claimJob(h.enqueue())
		good2 := h.claimJob(h.enqueue())
		h.advance(time.Second)
		res := h.finish(
			store.FinishItem{ID: good1.ID, LeaseToken: good1.LeaseToken, Outcome: store.OutcomeSucceeded},
			store.FinishItem{ID: stale.ID, LeaseToken: stale.LeaseToken, Outcome: store.OutcomeSucceeded},
			store.FinishItem{ID: store.NewID(), LeaseToken: store.NewLeaseToken(1), Outcome: store.OutcomeSucceeded},
			h.failItem(good2, "bad", time.Minute),
		)
		wantErr(t, "item 1 (stale token)", res.Errs[1], store.ErrLeaseLost)
		wantErr(t, "item 2 (unknown id)", res.Errs[2], store.ErrNotFound)
		for _, i := range []int{0, 3} {
			if res.Errs[i] != nil {
				t.Errorf("item %d (good token): error %v, want it applied", i, res.Errs[i])
			}
		}
		wantState(t, "item 0", res.Jobs[0], store.StateSucceeded)
		wantState(t, "item 3", res.Jobs[3], store.StateRetrying)
		wantState(t, "Get of the stale item's job", h.get(stale.ID), store.StateRunning)
		wantState(t, "Get of the first good item's job", h.get(good1.ID), store.StateSucceeded)
		wantState(t, "Get of the second good item's job", h.get(good2.ID), store.StateRetrying)
		h.succeed(staleNow)
	})

	t.Run("FinishSameJobTwiceInBatch", func(t *testing.T) {
		// Items apply in order: the first ends the attempt, so the second
		// holds a spent token.
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(3)))
		res := h.finish(
			store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded, Result: json.RawMessage(`1`)},
			h.failItem(j, "late", time.Minute),
		)
		if res.Errs[0] != nil {
			t.Errorf("first item: %v, want it applied", res.Errs[0])
		}
		wantErr(t, "second item for the same attempt", res.Errs[1], store.ErrLeaseLost)
		got := h.get(j.ID)
		wantState(t, "Get after the batch", got, store.StateSucceeded)
		if len(got.Errors) != 0 {
			t.Errorf("Errors = %+v, want none (the second item was refused)", got.Errors)
		}
	})

	t.Run("FinishUnknownOutcome", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue())
		before := h.get(j.ID)
		res, err := h.d.Finish(h.ctx, &store.FinishParams{Now: h.now, Items: []store.FinishItem{
			{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: "exploded"}}})
		if err == nil && (res == nil || len(res.Errs) != 1) {
			t.Fatalf("Finish: result %+v, want one entry", res)
		}
		if err == nil {
			err = res.Errs[0]
		}
		wantErr(t, "Finish with an unknown outcome (the call's or the item's error)", err, store.ErrInvalid)
		wantJob(t, "Get after a refused Finish", h.get(j.ID), before)
		h.succeed(j)
	})

	t.Run("Cancel", func(t *testing.T) {
		for _, s := range nonFinal {
			t.Run(string(s), func(t *testing.T) {
				h := setup(t, open)
				j := h.jobIn(s)
				h.advance(time.Second)
				got := h.cancel(j.ID, "no longer wanted")
				want := withoutLease(j)
				want.State = store.StateCancelled
				want.CancelReason = "no longer wanted"
				want.FinishedAt = h.now
				want.RunAt = got.RunAt // not specified for a cancelled job
				wantJob(t, "Cancel result", got, want)
				wantJob(t, "Get after Cancel", h.get(j.ID), want)
				h.advance(2 * time.Hour)
				h.claimNoneOf(j)
				if s == store.StateRunning {
					_, err := h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, ExtendBy: time.Minute})
					wantErr(t, "Heartbeat of a cancelled job", err, store.ErrLeaseLost)
					_, err = h.finishOne(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded})
					wantErr(t, "Finish of a cancelled job", err, store.ErrLeaseLost)
					wantState(t, "Get after the cancelled attempt reported", h.get(j.ID), store.StateCancelled)
					if got := h.rescue(0); len(got) != 0 {
						t.Errorf("Rescue after the lease of a cancelled job ended: rescued %v, want none", ids(got))
					}
				}
			})
		}
	})

	t.Run("CancelFinal", func(t *testing.T) {
		for _, s := range final {
			t.Run(string(s), func(t *testing.T) {
				h := setup(t, open)
				j := h.jobIn(s)
				before := h.get(j.ID)
				h.advance(time.Second)
				_, err := h.d.Cancel(h.ctx, &store.CancelParams{ID: j.ID, Reason: "too late", Now: h.now})
				wantTransitionError(t, "Cancel of a "+string(s)+" job", err, j.ID, s)
				wantJob(t, "Get after a refused Cancel", h.get(j.ID), before)
			})
		}
	})

	t.Run("Retry", func(t *testing.T) {
		for _, s := range []store.State{store.StateFailed, store.StateCancelled} {
			t.Run(string(s), func(t *testing.T) {
				h := setup(t, open)
				var j *store.Job
				if s == store.StateFailed {
					j = h.claimJob(h.enqueue(withKind("k"), withAttempts(2)))
					h.fail(j, 0)
					j = h.fail(h.claimJob(j), 0)
					wantState(t, "setup", j, store.StateFailed)
				} else {
					j = h.claimJob(h.enqueue(withKind("k"), withAttempts(2)))
					h.fail(j, 0)
					j = h.cancel(j.ID, "stop")
				}
				before := h.get(j.ID)
				h.advance(time.Minute)
				got := h.retry(j.ID)
				wantState(t, "Retry result", got, store.StateAvailable)
				if got.Attempt != 0 {
					t.Errorf("Attempt after Retry = %d, want 0 (a fresh set of attempts)", got.Attempt)
				}
				if d := errorsDiff(got.Errors, before.Errors); d != "" {
					t.Errorf("Errors after Retry (kept as they were): %s", d)
				}
				if !got.FinishedAt.IsZero() {
					t.Errorf("FinishedAt after Retry = %s, want zero (the job is no longer final)", fmtTime(got.FinishedAt))
				}
				wantJob(t, "Get after Retry", h.get(j.ID), got)
				c := h.claimJob(j)
				if c.Attempt != 1 {
					t.Errorf("claim after Retry: Attempt = %d, want 1", c.Attempt)
				}
				h.fail(c, 0)
				if got := h.get(j.ID); got.State != store.StateRetrying || len(got.Errors) != len(before.Errors)+1 {
					t.Errorf("after failing attempt 1 of 2 after Retry: %s with %d errors, want retrying with %d",
						got.State, len(got.Errors), len(before.Errors)+1)
				}
			})
		}
	})

	t.Run("RetryOtherStates", func(t *testing.T) {
		for _, s := range append(nonFinal, store.StateSucceeded) {
			t.Run(string(s), func(t *testing.T) {
				h := setup(t, open)
				j := h.jobIn(s)
				before := h.get(j.ID)
				h.advance(time.Second)
				_, err := h.d.Retry(h.ctx, &store.RetryParams{ID: j.ID, Now: h.now})
				wantTransitionError(t, "Retry of a "+string(s)+" job", err, j.ID, s)
				wantJob(t, "Get after a refused Retry", h.get(j.ID), before)
			})
		}
	})

	t.Run("UnknownID", func(t *testing.T) {
		h := setup(t, open)
		h.enqueue()
		unknown := store.NewID()
		calls := []struct {
			name string
			call func() error
		}{
			{"Get", func() error { _, err := h.d.Get(h.ctx, unknown); return err }},
			{"GetMalformedID", func() error { _, err := h.d.Get(h.ctx, "not-an-id"); return err }},
			{"Heartbeat", func() error {
				_, err := h.heartbeat(store.HeartbeatParams{ID: unknown, LeaseToken: store.NewLeaseToken(1), ExtendBy: time.Minute})
				return err
			}},
			{"Finish", func() error {
				_, err := h.finishOne(store.FinishItem{ID: unknown, LeaseToken: store.NewLeaseToken(1), Outcome: store.OutcomeSucceeded})
				return err
			}},
			{"Cancel", func() error {
				_, err := h.d.Cancel(h.ctx, &store.CancelParams{ID: unknown, Reason: "x", Now: h.now})
				return err
			}},
			{"Retry", func() error { _, err := h.d.Retry(h.ctx, &store.RetryParams{ID: unknown, Now: h.now}); return err }},
		}
		for _, c := range calls {
			wantErr(t, c.name+" of an unknown id", c.call(), store.ErrNotFound)
		}
	})
}

// wantTransitionError fails the test unless err is a *TransitionError for
// job id from state from, that wraps ErrConflict.
func wantTransitionError(t *testing.T, what string, err error, id string, from store.State) {
	t.Helper()
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("%s: got error %v, want ErrConflict", what, err)
	}
	var te *store.TransitionError
	if !errors.As(err, &te) {
		t.Errorf("%s: error %v carries no *store.TransitionError", what, err)
		return
	}
	if te.ID != id || te.From != from {
		t.Errorf("%s: TransitionError{ID: %s, From: %s}, want {ID: %s, From: %s}", what, te.ID, te.From, id, from)
	}
}
