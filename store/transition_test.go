package store

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC)

func running(attempt, maxAttempts int) *Job {
	return &Job{
		ID: "j1", State: StateRunning, Attempt: attempt, MaxAttempts: maxAttempts,
		LeaseToken: "tok", LeaseExpiresAt: t0.Add(time.Minute), StartedAt: t0,
		Errors: []AttemptError{{Attempt: 0, At: t0, Message: "old"}},
	}
}

func TestFinishJob(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Second)
	later := now.Add(time.Hour)
	tests := []struct {
		name        string
		job         *Job
		item        FinishItem
		wantErr     error
		wantState   State
		wantAttempt int
		wantRunAt   time.Time
		wantErrs    int // len(Errors) after
		wantFinal   bool
	}{
		{name: "succeeded", job: running(1, 3), item: FinishItem{Outcome: OutcomeSucceeded},
			wantState: StateSucceeded, wantAttempt: 1, wantErrs: 1, wantFinal: true},
		{name: "failed retries", job: running(1, 3), item: FinishItem{Outcome: OutcomeFailed, Error: &AttemptError{Message: "boom"}, RetryAt: later},
			wantState: StateRetrying, wantAttempt: 1, wantRunAt: later, wantErrs: 2},
		{name: "failed retry at zero means now", job: running(1, 3), item: FinishItem{Outcome: OutcomeFailed},
			wantState: StateRetrying, wantAttempt: 1, wantRunAt: now, wantErrs: 2},
		{name: "failed attempts used up", job: running(3, 3), item: FinishItem{Outcome: OutcomeFailed, RetryAt: later},
			wantState: StateFailed, wantAttempt: 3, wantErrs: 2, wantFinal: true},
		{name: "failed permanent", job: running(1, 3), item: FinishItem{Outcome: OutcomeFailed, Permanent: true},
			wantState: StateFailed, wantAttempt: 1, wantErrs: 2, wantFinal: true},
		{name: "snoozed keeps the attempt", job: running(2, 3), item: FinishItem{Outcome: OutcomeSnoozed, RetryAt: later},
			wantState: StateScheduled, wantAttempt: 1, wantRunAt: later, wantErrs: 1},
		{name: "snoozed on the last attempt", job: running(3, 3), item: FinishItem{Outcome: OutcomeSnoozed, RetryAt: later},
			wantState: StateScheduled, wantAttempt: 2, wantRunAt: later, wantErrs: 1},
		{name: "released keeps the attempt", job: running(1, 3), item: FinishItem{Outcome: OutcomeReleased},
			wantState: StateAvailable, wantAttempt: 0, wantRunAt: now, wantErrs: 1},
		{name: "cancelled by handler", job: running(1, 3), item: FinishItem{Outcome: OutcomeCancelled, Error: &AttemptError{Message: "no longer needed"}},
			wantState: StateCancelled, wantAttempt: 1, wantErrs: 2, wantFinal: true},
		{name: "stale token", job: running(1, 3), item: FinishItem{Outcome: OutcomeSucceeded, LeaseToken: "other"},
			wantErr: ErrLeaseLost},
		{name: "not running", job: &Job{ID: "j1", State: StateAvailable, LeaseToken: ""}, item: FinishItem{Outcome: OutcomeSucceeded, LeaseToken: ""},
			wantErr: ErrLeaseLost},
		{name: "unknown outcome", job: running(1, 3), item: FinishItem{Outcome: "exploded"},
			wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.item.LeaseToken == "" && tt.job.State == StateRunning {
				tt.item.LeaseToken = "tok"
			}
			before := *tt.job
			err := FinishJob(tt.job, &tt.item, now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("FinishJob: got %v, want %v", err, tt.wantErr)
				}
				if tt.job.State != before.State || tt.job.Attempt != before.Attempt || len(tt.job.Errors) != len(before.Errors) {
					t.Errorf("FinishJob changed the job on error: %+v", tt.job)
				}
				return
			}
			if err != nil {
				t.Fatalf("FinishJob: %v", err)
			}
			j := tt.job
			if j.State != tt.wantState || j.Attempt != tt.wantAttempt {
				t.Errorf("got state %s attempt %d, want %s attempt %d", j.State, j.Attempt, tt.wantState, tt.wantAttempt)
			}
			if !tt.wantRunAt.IsZero() && !j.RunAt.Equal(tt.wantRunAt) {
				t.Errorf("RunAt = %v, want %v", j.RunAt, tt.wantRunAt)
			}
			if len(j.Errors) != tt.wantErrs {
				t.Errorf("len(Errors) = %d, want %d", len(j.Errors), tt.wantErrs)
			}
			if tt.wantErrs > 1 {
				last := j.Errors[len(j.Errors)-1]
				if last.Attempt != before.Attempt || !last.At.Equal(now) || last.Message == "" {
					t.Errorf("last error = %+v, want attempt %d at %v with a message", last, before.Attempt, now)
				}
			}
			if got := !j.FinishedAt.IsZero(); got != tt.wantFinal || j.State.Final() != tt.wantFinal {
				t.Errorf("FinishedAt = %v, state %s; want final %v", j.FinishedAt, j.State, tt.wantFinal)
			}
			if j.LeaseToken != "" || !j.LeaseExpiresAt.IsZero() {
				t.Errorf("lease not cleared: %q %v", j.LeaseToken, j.LeaseExpiresAt)
			}
		})
	}
}

func TestFinishJobDoesNotShareErrors(t *testing.T) {
	t.Parallel()
	base := make([]AttemptError, 1, 4)
	a, b := running(1, 3), running(1, 3)
	a.Errors, b.Errors = base, base
	if err := FinishJob(a, &FinishItem{LeaseToken: "tok", Outcome: OutcomeFailed, Error: &AttemptError{Message: "a"}}, t0); err != nil {
		t.Fatal(err)
	}
	if err := FinishJob(b, &FinishItem{LeaseToken: "tok", Outcome: OutcomeFailed, Error: &AttemptError{Message: "b"}}, t0); err != nil {
		t.Fatal(err)
	}
	if a.Errors[1].Message != "a" || b.Errors[1].Message != "b" {
		t.Errorf("errors aliased: %q %q", a.Errors[1].Message, b.Errors[1].Message)
	}
}

func TestRescueJob(t *testing.T) {
	t.Parallel()
	backoff := func(attempt int) time.Duration { return time.Duration(attempt) * time.Minute }
	expired := t0.Add(2 * time.Minute)
	tests := []struct {
		name      string
		job       *Job
		now       time.Time
		wantState State
		wantRunAt time.Time
		conflict  bool
	}{
		{"retries after backoff", running(2, 3), expired, StateRetrying, expired.Add(2 * time.Minute), false},
		{"attempts used up", running(3, 3), expired, StateFailed, time.Time{}, false},
		{"not expired", running(1, 3), t0, "", time.Time{}, true},
		{"not running", &Job{ID: "j", State: StateAvailable}, expired, "", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := RescueJob(tt.job, tt.now, backoff)
			if tt.conflict {
				var te *TransitionError
				if !errors.As(err, &te) || !errors.Is(err, ErrConflict) {
					t.Fatalf("got %v, want a *TransitionError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.job.State != tt.wantState {
				t.Errorf("state %s, want %s", tt.job.State, tt.wantState)
			}
			if !tt.wantRunAt.IsZero() && !tt.job.RunAt.Equal(tt.wantRunAt) {
				t.Errorf("RunAt %v, want %v", tt.job.RunAt, tt.wantRunAt)
			}
			last := tt.job.Errors[len(tt.job.Errors)-1]
			if last.Message != LeaseExpiredMessage {
				t.Errorf("last error %+v", last)
			}
			if tt.job.LeaseToken != "" {
				t.Error("lease not cleared")
			}
		})
	}
}

func TestCancelJob(t *testing.T) {
	t.Parallel()
	for _, s := range States {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			j := &Job{ID: "j", State: s, LeaseToken: "tok"}
			err := CancelJob(j, "", t0)
			if s.Final() {
				if !errors.Is(err, ErrConflict) {
					t.Fatalf("got %v, want ErrConflict", err)
				}
				return
			}
			if err != nil || j.State != StateCancelled || j.CancelReason == "" || !j.FinishedAt.Equal(t0) || j.LeaseToken != "" {
				t.Fatalf("got %v, %+v", err, j)
			}
		})
	}
}

func TestRetryJob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from     State
		deps     []State
		want     State
		conflict bool
	}{
		{"failed", StateFailed, nil, StateAvailable, false},
		{"cancelled", StateCancelled, nil, StateAvailable, false},
		{"deps succeeded", StateCancelled, []State{StateSucceeded, StateSucceeded}, StateAvailable, false},
		{"deps pending", StateCancelled, []State{StateSucceeded, StateRunning}, StateWaiting, false},
		{"dep failed", StateCancelled, []State{StateRunning, StateFailed}, "", true},
		{"running", StateRunning, nil, "", true},
		{"succeeded", StateSucceeded, nil, "", true},
		{"available", StateAvailable, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := &Job{ID: "j", State: tt.from, Attempt: 3, MaxAttempts: 3, FinishedAt: t0, CancelReason: "x",
				Errors: []AttemptError{{Attempt: 3, Message: "e"}}}
			err := RetryJob(j, tt.deps, t0.Add(time.Hour))
			if tt.conflict {
				if !errors.Is(err, ErrConflict) {
					t.Fatalf("got %v, want ErrConflict", err)
				}
				if j.State != tt.from {
					t.Error("job changed on error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j.State != tt.want || j.Attempt != 0 || !j.FinishedAt.IsZero() || j.CancelReason != "" || len(j.Errors) != 1 {
				t.Errorf("got %+v", j)
			}
		})
	}
}

func TestInitialState(t *testing.T) {
	t.Parallel()
	ids := []string{"a", "b"}
	tests := []struct {
		name       string
		runAt      time.Time
		deps       []State
		want       State
		wantReason string
	}{
		{"now", t0, nil, StateAvailable, ""},
		{"later", t0.Add(time.Second), nil, StateScheduled, ""},
		{"deps pending", t0, []State{StateSucceeded, StateAvailable}, StateWaiting, ""},
		{"deps done, later", t0.Add(time.Second), []State{StateSucceeded, StateSucceeded}, StateScheduled, ""},
		{"dep failed", t0, []State{StateRunning, StateFailed}, StateCancelled, DependencyReason("b", StateFailed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, reason := InitialState(tt.runAt, t0, ids[:len(tt.deps)], tt.deps)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("got %s %q, want %s %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestHeartbeatAndPromote(t *testing.T) {
	t.Parallel()
	j := running(1, 3)
	if err := HeartbeatJob(j, &HeartbeatParams{LeaseToken: "bad"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale heartbeat: %v", err)
	}
	p := &Progress{Percent: 40, Message: "m"}
	if err := HeartbeatJob(j, &HeartbeatParams{LeaseToken: "tok", Progress: p, ExtendBy: time.Hour, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if j.Progress.Percent != 40 || !j.LeaseExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("got %+v", j)
	}
	s := &Job{State: StateScheduled, RunAt: t0}
	if PromoteJob(s, t0.Add(-time.Nanosecond)) || !PromoteJob(s, t0) || s.State != StateAvailable {
		t.Errorf("promote: %+v", s)
	}
	w := &Job{State: StateWaiting, RunAt: t0.Add(time.Minute)}
	if !ReleaseDependent(w, t0) || w.State != StateScheduled {
		t.Errorf("release: %+v", w)
	}
}
