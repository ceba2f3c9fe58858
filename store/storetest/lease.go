package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func testLeases(t *testing.T, open opener) {
	t.Run("HeartbeatExtends", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue())
		h.advance(20 * time.Second)
		progress := &store.Progress{Percent: 40, Message: "resizing"}
		checkpoint := json.RawMessage(`{"page":3,"done":["a","b"]}`)
		got, err := h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken,
			Progress: progress, Checkpoint: checkpoint, ExtendBy: time.Minute})
		if err != nil {
			t.Fatalf("Heartbeat with the current token: %v", err)
		}
		wantState(t, "Heartbeat result", got, store.StateRunning)
		wantTime(t, "LeaseExpiresAt after Heartbeat(ExtendBy 1m)", got.LeaseExpiresAt, h.now.Add(time.Minute))
		extendedTo := h.now.Add(time.Minute)
		want := withoutLease(j)
		want.Progress = progress
		want.Checkpoint = checkpoint
		wantJob(t, "Heartbeat result", got, want)
		wantJob(t, "Get after Heartbeat", h.get(j.ID), want)

		// Nil progress and checkpoint keep what was saved; zero ExtendBy
		// keeps the lease's end.
		h.advance(10 * time.Second)
		got, err = h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken})
		if err != nil {
			t.Fatalf("empty Heartbeat: %v", err)
		}
		wantTime(t, "LeaseExpiresAt after Heartbeat(ExtendBy 0)", got.LeaseExpiresAt, extendedTo)
		wantJob(t, "Get after an empty Heartbeat", h.get(j.ID), want)

		// New progress replaces the old one.
		progress = &store.Progress{Percent: 90, Message: "encoding"}
		got, err = h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, Progress: progress})
		if err != nil {
			t.Fatalf("Heartbeat with progress: %v", err)
		}
		want.Progress = progress
		wantJob(t, "Heartbeat result after a second progress report", got, want)
		wantJob(t, "Get after a second progress report", h.get(j.ID), want)

		// The lease now ends at extendedTo, not at the claim's end.
		h.now = extendedTo.Add(-time.Second)
		if got := h.rescue(0); len(got) != 0 {
			t.Errorf("Rescue before the extended lease ended: rescued %v, want none", ids(got))
		}
		h.now = extendedTo.Add(time.Second)
		if got := h.rescue(0); len(got) != 1 || got[0].ID != j.ID {
			t.Errorf("Rescue after the extended lease ended: rescued %v, want [%s]", ids(got), j.ID)
		}
	})

	t.Run("HeartbeatOldToken", func(t *testing.T) {
		h := setup(t, open)
		j1 := h.claimJob(h.enqueue(withAttempts(3)))
		h.fail(j1, 0)
		j2 := h.claimJob(j1)
		before := h.get(j1.ID)
		h.advance(time.Second)
		_, err := h.heartbeat(store.HeartbeatParams{ID: j1.ID, LeaseToken: j1.LeaseToken,
			Progress: &store.Progress{Percent: 1}, Checkpoint: json.RawMessage(`{"x":1}`), ExtendBy: time.Hour})
		wantErr(t, "Heartbeat with the first attempt's token during the second", err, store.ErrLeaseLost)
		wantJob(t, "Get after a refused Heartbeat", h.get(j1.ID), before)
		if _, err := h.heartbeat(store.HeartbeatParams{ID: j2.ID, LeaseToken: j2.LeaseToken, ExtendBy: time.Minute}); err != nil {
			t.Errorf("Heartbeat with the current token: %v", err)
		}
	})

	t.Run("HeartbeatNeverShortensTheLease", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue())
		h.advance(time.Second)
		got, err := h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, ExtendBy: time.Millisecond})
		if err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		wantTime(t, "LeaseExpiresAt after a Heartbeat asking for less than is left", got.LeaseExpiresAt, j.LeaseExpiresAt)
		wantTime(t, "LeaseExpiresAt seen by Get", h.get(j.ID).LeaseExpiresAt, j.LeaseExpiresAt)
	})

	t.Run("HeartbeatNotRunning", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue())
		h.succeed(j)
		_, err := h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, ExtendBy: time.Minute})
		wantErr(t, "Heartbeat of a succeeded job", err, store.ErrLeaseLost)
		a := h.enqueue()
		_, err = h.heartbeat(store.HeartbeatParams{ID: a.ID, LeaseToken: store.NewLeaseToken(1), ExtendBy: time.Minute})
		wantErr(t, "Heartbeat of an available job", err, store.ErrLeaseLost)
	})

	t.Run("RescueRetries", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(3)))
		h.advance(leaseFor - time.Second)
		if got := h.rescue(0); len(got) != 0 {
			t.Fatalf("Rescue before the lease ended: rescued %v, want none", ids(got))
		}
		wantState(t, "Get after an early Rescue", h.get(j.ID), store.StateRunning)
		h.advance(2 * time.Second)
		got := h.rescue(0)
		if len(got) != 1 || got[0].ID != j.ID {
			t.Fatalf("Rescue after the lease ended: rescued %v, want [%s]", ids(got), j.ID)
		}
		wantState(t, "rescued job", got[0], store.StateRetrying)
		wantTime(t, "RunAt of the rescued job (Now + Backoff(1))", got[0].RunAt, h.now.Add(minutesBackoff(1)))
		wantRescueError(t, got[0], 1, h.now)
		wantJob(t, "Get after Rescue", h.get(j.ID), got[0])
		if again := h.rescue(0); len(again) != 0 {
			t.Errorf("second Rescue: rescued %v again", ids(again))
		}

		// The second attempt's backoff is Backoff(2).
		h.advance(minutesBackoff(1))
		j2 := h.claimJob(j)
		if j2.Attempt != 2 {
			t.Errorf("claim after the rescue: Attempt = %d, want 2", j2.Attempt)
		}
		h.advance(leaseFor + time.Second)
		got = h.rescue(0)
		if len(got) != 1 {
			t.Fatalf("Rescue of attempt 2: rescued %v, want [%s]", ids(got), j.ID)
		}
		wantTime(t, "RunAt after attempt 2 was rescued (Now + Backoff(2))", got[0].RunAt, h.now.Add(minutesBackoff(2)))
		if len(got[0].Errors) != 2 || got[0].Errors[1].Attempt != 2 {
			t.Errorf("Errors after two rescues = %+v, want entries for attempts 1 and 2", got[0].Errors)
		}
	})

	t.Run("RescueFailsWhenAttemptsUsedUp", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(1)))
		h.advance(time.Hour)
		got := h.rescue(0)
		if len(got) != 1 || got[0].ID != j.ID {
			t.Fatalf("Rescue: rescued %v, want [%s]", ids(got), j.ID)
		}
		wantState(t, "rescued job on its last attempt", got[0], store.StateFailed)
		wantTime(t, "FinishedAt", got[0].FinishedAt, h.now)
		wantRescueError(t, got[0], 1, h.now)
		wantJob(t, "Get after Rescue", h.get(j.ID), got[0])
		h.advance(time.Hour)
		h.claimNone("default")
	})

	t.Run("RescueLimit", func(t *testing.T) {
		h := setup(t, open)
		h.enqueueMany(3)
		h.claim(store.ClaimParams{Max: 3})
		h.advance(time.Hour)
		for _, want := range []int{2, 1, 0} {
			if got := h.rescue(2); len(got) != want {
				t.Errorf("Rescue(limit 2): rescued %d jobs, want %d", len(got), want)
			}
		}
	})

	t.Run("RescueLeavesOthersAlone", func(t *testing.T) {
		h := setup(t, open)
		var jobs []*store.Job
		for _, s := range []store.State{store.StateAvailable, store.StateScheduled, store.StateWaiting,
			store.StateRetrying, store.StateSucceeded, store.StateFailed, store.StateCancelled} {
			jobs = append(jobs, h.get(h.jobIn(s).ID))
		}
		h.advance(24 * time.Hour)
		if got := h.rescue(0); len(got) != 0 {
			t.Errorf("Rescue with no running job: rescued %v", ids(got))
		}
		for _, j := range jobs {
			wantJob(t, "Get after Rescue of a "+string(j.State)+" job", h.get(j.ID), j)
		}
	})

	t.Run("Fenced", func(t *testing.T) {
		h := setup(t, open)
		j := h.claimJob(h.enqueue(withAttempts(3)))
		h.advance(leaseFor + time.Second)
		h.rescue(0)
		_, err := h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, ExtendBy: time.Minute})
		wantErr(t, "Heartbeat with the rescued attempt's token", err, store.ErrLeaseLost)
		_, err = h.finishOne(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded})
		wantErr(t, "Finish with the rescued attempt's token", err, store.ErrLeaseLost)
		wantState(t, "Get after the rescued attempt reported", h.get(j.ID), store.StateRetrying)

		h.advance(time.Hour)
		j2 := h.claimJob(j)
		_, err = h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, ExtendBy: time.Minute})
		wantErr(t, "Heartbeat with the rescued attempt's token during the next attempt", err, store.ErrLeaseLost)
		_, err = h.finishOne(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded})
		wantErr(t, "Finish with the rescued attempt's token during the next attempt", err, store.ErrLeaseLost)
		wantState(t, "Get after the rescued attempt reported again", h.get(j.ID), store.StateRunning)
		h.succeed(j2)
	})

	t.Run("CheckpointCarriedToNextAttempt", func(t *testing.T) {
		cases := []struct {
			name string
			end  func(h *harness, j *store.Job)
		}{
			{"Rescued", func(h *harness, j *store.Job) {
				h.advance(leaseFor + time.Second)
				if got := h.rescue(0); len(got) != 1 {
					h.t.Fatalf("Rescue: rescued %v, want [%s]", ids(got), j.ID)
				}
			}},
			{"Failed", func(h *harness, j *store.Job) { h.fail(j, time.Second) }},
			{"Released", func(h *harness, j *store.Job) {
				h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeReleased})
			}},
			{"Snoozed", func(h *harness, j *store.Job) {
				h.mustFinish(store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSnoozed, RetryAt: h.now.Add(time.Second)})
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := setup(t, open)
				j := h.claimJob(h.enqueue(withAttempts(3)))
				if j.Checkpoint != nil && !jsonEqual(j.Checkpoint, []byte("null")) {
					t.Errorf("first claim carries checkpoint %s, want none", j.Checkpoint)
				}
				checkpoint := json.RawMessage(`{"step":2,"cursor":"abc"}`)
				h.advance(time.Second)
				if _, err := h.heartbeat(store.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken, Checkpoint: checkpoint}); err != nil {
					t.Fatalf("Heartbeat: %v", err)
				}
				c.end(h, j)
				h.advance(time.Hour)
				next := h.claimJob(j)
				if !jsonEqual(next.Checkpoint, checkpoint) {
					t.Errorf("next attempt's claim carries checkpoint %s, want %s", next.Checkpoint, checkpoint)
				}
			})
		}
	})
}

// wantRescueError fails the test unless the last entry of j's Errors
// records that attempt failed at at, with a message.
func wantRescueError(t *testing.T, j *store.Job, attempt int, at time.Time) {
	t.Helper()
	if len(j.Errors) == 0 {
		t.Errorf("rescued job has no Errors entry, want one for attempt %d", attempt)
		return
	}
	e := j.Errors[len(j.Errors)-1]
	if e.Attempt != attempt || !e.At.Equal(at) || e.Message == "" {
		t.Errorf("rescued job's Errors entry = {attempt %d at %s %q}, want {attempt %d at %s, a message}",
			e.Attempt, fmtTime(e.At), e.Message, attempt, fmtTime(at))
	}
}
