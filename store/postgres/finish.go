package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gantry-dev/gantry/store"
)

// Finish records the outcomes of attempts in one transaction: it locks the
// jobs (in id order), applies each item with store.FinishJob, writes the
// changed rows back with one UPDATE, then releases or cancels their
// dependents.
func (s *Store) Finish(ctx context.Context, p *store.FinishParams) (*store.FinishResult, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	now := p.Now.Truncate(time.Microsecond).UTC()
	var res *store.FinishResult
	var changes []store.Change
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		changes = nil
		res = &store.FinishResult{Jobs: make([]*store.Job, len(p.Items)), Errs: make([]error, len(p.Items))}
		ids := make([]string, 0, len(p.Items))
		for _, it := range p.Items {
			if validID(it.ID) {
				ids = append(ids, it.ID)
			}
		}
		jobs, err := s.lockJobs(ctx, tx, ids)
		if err != nil {
			return err
		}
		var changed []*store.Job
		for i := range p.Items {
			it := &p.Items[i]
			j := jobs[it.ID]
			if j == nil {
				res.Errs[i] = store.ErrNotFound
				continue
			}
			if err := store.FinishJob(j, it, now); err != nil {
				res.Errs[i] = err
				continue
			}
			c := *j
			res.Jobs[i] = forReader(&c)
			if !slices.Contains(changed, j) {
				changed = append(changed, j)
			}
		}
		if err := s.writeJobs(ctx, tx, changed, nil, now); err != nil {
			return err
		}
		for _, j := range changed {
			changes = append(changes, change(j))
		}
		more, err := s.settleDependents(ctx, tx, changed, now)
		changes = append(changes, more...)
		return err
	})
	if err != nil {
		return nil, s.wrap("finish", err)
	}
	s.out.add(changes)
	return res, nil
}

// lockJobs reads the jobs with the given ids FOR UPDATE, in id order so
// that two transactions never wait for each other in a circle.
func (s *Store) lockJobs(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*store.Job, error) {
	out := make(map[string]*store.Job, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+jobCols+` FROM `+s.q.jobs+`
		WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Job, error) { return scanJob(r) })
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		out[j.ID] = j
	}
	// Callers look jobs up by the id they were given, which may differ in
	// case from PostgreSQL's canonical form.
	for _, id := range ids {
		if out[id] == nil {
			for _, j := range jobs {
				if equalFoldID(j.ID, id) {
					out[id] = j
				}
			}
		}
	}
	return out, nil
}

func equalFoldID(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'F' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'F' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// writeJobs writes the changeable columns of jobs back, in one statement.
// pending, when not nil, sets pending_deps of jobs[i] to pending[i].
// available_at becomes now for jobs that became available, and run_at for
// scheduled and retrying ones.
func (s *Store) writeJobs(ctx context.Context, tx pgx.Tx, jobs []*store.Job, pending []int, now time.Time) error {
	if len(jobs) == 0 {
		return nil
	}
	n := len(jobs)
	var (
		ids, states                    = make([]string, n), make([]string, n)
		attempts, pendings             = make([]int32, n), make([]int32, n)
		runAt                          = make([]time.Time, n)
		availableAt                    = make([]pgtype.Timestamptz, n)
		startedAt, finishedAt, leaseTo = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		pct                            = make([]pgtype.Int2, n)
		msg, errs, reason, token       = make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
		result, checkpoint             = make([][]byte, n), make([][]byte, n)
	)
	for i, j := range jobs {
		ids[i], states[i], attempts[i] = j.ID, string(j.State), int32(j.Attempt)
		pendings[i] = -1
		if pending != nil {
			pendings[i] = int32(pending[i])
		}
		runAt[i] = j.RunAt
		switch j.State {
		case store.StateAvailable:
			availableAt[i] = timestamptz(now)
		case store.StateScheduled, store.StateRetrying:
			availableAt[i] = timestamptz(j.RunAt)
		}
		startedAt[i], finishedAt[i], leaseTo[i] = timestamptz(j.StartedAt), timestamptz(j.FinishedAt), timestamptz(j.LeaseExpiresAt)
		if j.Progress != nil {
			pct[i] = pgtype.Int2{Int16: int16(j.Progress.Percent), Valid: true}
			msg[i] = pgtype.Text{String: j.Progress.Message, Valid: true}
		}
		if len(j.Errors) > 0 {
			b, err := json.Marshal(j.Errors)
			if err != nil {
				return err
			}
			errs[i] = pgtype.Text{String: string(b), Valid: true}
		}
		reason[i], token[i] = text(j.CancelReason), text(j.LeaseToken)
		result[i], checkpoint[i] = nilIfEmpty(j.Result), nilIfEmpty(j.Checkpoint)
	}
	_, err := tx.Exec(ctx, s.q.sql(`UPDATE {jobs} j SET
		state = u.state, attempt = u.attempt, run_at = u.run_at,
		available_at = coalesce(u.available_at, j.available_at),
		started_at = u.started_at, finished_at = u.finished_at,
		progress_percent = u.pct, progress_message = u.msg,
		result = u.result, errors = u.errors::jsonb, checkpoint = u.checkpoint,
		cancel_reason = u.reason, lease_token = u.token, lease_expires_at = u.lease_expires_at,
		pending_deps = CASE WHEN u.pending < 0 THEN j.pending_deps ELSE u.pending END
		FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[],
			$7::timestamptz[], $8::smallint[], $9::text[], $10::bytea[], $11::text[], $12::bytea[], $13::text[],
			$14::text[], $15::timestamptz[], $16::int[])
			AS u(id, state, attempt, run_at, available_at, started_at, finished_at, pct, msg, result, errors,
				checkpoint, reason, token, lease_expires_at, pending)
		WHERE j.id = u.id`),
		ids, states, attempts, runAt, availableAt, startedAt, finishedAt, pct, msg, result, errs,
		checkpoint, reason, token, leaseTo, pendings)
	return err
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// settleDependents releases the dependents of jobs that succeeded and
// cancels, transitively, those of jobs that failed or were cancelled.
// It returns the changes it made.
func (s *Store) settleDependents(ctx context.Context, tx pgx.Tx, jobs []*store.Job, now time.Time) ([]store.Change, error) {
	var ok, bad, badStates []string
	for _, j := range jobs {
		switch j.State {
		case store.StateSucceeded:
			ok = append(ok, j.ID)
		case store.StateFailed, store.StateCancelled:
			bad = append(bad, j.ID)
			badStates = append(badStates, string(j.State))
		}
	}
	var changes []store.Change
	if len(ok) > 0 {
		// A dependent whose last pending dependency succeeded becomes
		// available, or scheduled when its RunAt is still ahead.
		rows, err := tx.Query(ctx, s.q.sql(`UPDATE {jobs} j SET
			pending_deps = greatest(j.pending_deps - d.n, 0),
			state = CASE WHEN j.pending_deps - d.n > 0 THEN 'waiting'
				WHEN j.run_at > $2 THEN 'scheduled' ELSE 'available' END,
			available_at = CASE WHEN j.pending_deps - d.n > 0 THEN j.available_at
				WHEN j.run_at > $2 THEN j.run_at ELSE $2 END
			FROM (SELECT job_id, count(*) AS n FROM {deps}
				WHERE depends_on_id = ANY($1::uuid[]) GROUP BY job_id) d
			WHERE j.id = d.job_id AND j.state = 'waiting'
			RETURNING j.id::text, j.queue, j.kind, j.state`), ok, now)
		if err != nil {
			return nil, err
		}
		released, err := scanChanges(rows)
		if err != nil {
			return nil, err
		}
		for _, c := range released {
			if c.State != store.StateWaiting {
				changes = append(changes, c)
			}
		}
	}
	if len(bad) > 0 {
		cancelled, err := s.cancelDependents(ctx, tx, bad, badStates, now)
		if err != nil {
			return nil, err
		}
		changes = append(changes, cancelled...)
	}
	return changes, nil
}

// cancelDependents cancels the non-final dependents of the given jobs, and
// theirs, in one recursive statement. Each says which dependency did not
// succeed.
func (s *Store) cancelDependents(ctx context.Context, tx pgx.Tx, ids, states []string, now time.Time) ([]store.Change, error) {
	rows, err := tx.Query(ctx, s.q.sql(`WITH RECURSIVE c(id, reason) AS (
			SELECT d.job_id, 'dependency ' || r.id || ' ' || r.state
			FROM unnest($1::uuid[], $2::text[]) AS r(id, state)
			JOIN {deps} d ON d.depends_on_id = r.id
			JOIN {jobs} x ON x.id = d.job_id
			WHERE x.state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')
		UNION
			SELECT d.job_id, 'dependency ' || c.id || ' cancelled'
			FROM c JOIN {deps} d ON d.depends_on_id = c.id
			JOIN {jobs} x ON x.id = d.job_id
			WHERE x.state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')
		)
		UPDATE {jobs} j SET state = 'cancelled', finished_at = $3, cancel_reason = x.reason,
			lease_token = NULL, lease_expires_at = NULL
		FROM (SELECT DISTINCT ON (id) id, reason FROM c ORDER BY id, reason) x
		WHERE j.id = x.id AND j.state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')
		RETURNING j.id::text, j.queue, j.kind, j.state`),
		ids, states, now)
	if err != nil {
		return nil, err
	}
	return scanChanges(rows)
}

// Cancel cancels a non-final job and, transitively, its dependents.
func (s *Store) Cancel(ctx context.Context, p *store.CancelParams) (*store.Job, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if !validID(p.ID) {
		return nil, store.ErrNotFound
	}
	now := p.Now.Truncate(time.Microsecond).UTC()
	var out *store.Job
	var changes []store.Change
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		jobs, err := s.lockJobs(ctx, tx, []string{p.ID})
		if err != nil {
			return err
		}
		j := jobs[p.ID]
		if j == nil {
			return store.ErrNotFound
		}
		if err := store.CancelJob(j, p.Reason, now); err != nil {
			return err
		}
		if err := s.writeJobs(ctx, tx, []*store.Job{j}, nil, now); err != nil {
			return err
		}
		out = forReader(j)
		more, err := s.settleDependents(ctx, tx, []*store.Job{j}, now)
		changes = append([]store.Change{change(j)}, more...)
		return err
	})
	if err != nil {
		return nil, s.wrap("cancel", err)
	}
	s.out.add(changes)
	return out, nil
}

// Retry gives a failed or cancelled job a fresh set of attempts. It locks
// the job's unique key, then its dependencies (FOR SHARE), then the job, in
// the order Enqueue and Finish take them.
func (s *Store) Retry(ctx context.Context, p *store.RetryParams) (*store.Job, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if !validID(p.ID) {
		return nil, store.ErrNotFound
	}
	now := p.Now.Truncate(time.Microsecond).UTC()
	var out *store.Job
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var key pgtype.Text
		if err := tx.QueryRow(ctx, `SELECT unique_key FROM `+s.q.jobs+` WHERE id = $1`, p.ID).Scan(&key); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		if key.Valid {
			if err := s.lockKeys(ctx, tx, []string{key.String}); err != nil {
				return err
			}
		}
		var deps []store.State
		pending := 0
		var depState string
		rows, err := tx.Query(ctx, s.q.sql(`SELECT x.state FROM {deps} d
			JOIN {jobs} x ON x.id = d.depends_on_id
			WHERE d.job_id = $1 ORDER BY x.id FOR SHARE OF x`), p.ID)
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&depState}, func() error {
			deps = append(deps, store.State(depState))
			if depState != string(store.StateSucceeded) {
				pending++
			}
			return nil
		}); err != nil {
			return err
		}
		jobs, err := s.lockJobs(ctx, tx, []string{p.ID})
		if err != nil {
			return err
		}
		j := jobs[p.ID]
		if j == nil {
			return store.ErrNotFound
		}
		from := j.State
		if err := store.RetryJob(j, deps, now); err != nil {
			return err
		}
		if key.Valid {
			var holder string
			err := tx.QueryRow(ctx, `SELECT id::text FROM `+s.q.jobs+` WHERE unique_key = $1
				AND state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')`, key.String).Scan(&holder)
			if err == nil {
				return &store.TransitionError{ID: j.ID, From: from, To: j.State,
					Reason: "job " + holder + " holds its unique key"}
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if err := s.writeJobs(ctx, tx, []*store.Job{j}, []int{pending}, now); err != nil {
			return err
		}
		out = forReader(j)
		return nil
	})
	if err != nil {
		return nil, s.wrap("retry", err)
	}
	s.out.add([]store.Change{change(out)})
	return out, nil
}

// Rescue ends expired leases: each is a failed attempt, retried after
// p.Backoff or failed when the attempts are used up. Jobs locked by
// another node's Rescue are skipped.
func (s *Store) Rescue(ctx context.Context, p *store.RescueParams) (*store.RescueResult, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	now := p.Now.Truncate(time.Microsecond).UTC()
	res := &store.RescueResult{}
	var changes []store.Change
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		changes = nil
		rows, err := tx.Query(ctx, `SELECT `+jobCols+` FROM `+s.q.jobs+`
			WHERE state = 'running' AND lease_expires_at <= $1
			ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit(p.Limit))
		if err != nil {
			return err
		}
		jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Job, error) { return scanJob(r) })
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if err := store.RescueJob(j, now, p.Backoff); err != nil {
				return err // the query selected only expired leases
			}
		}
		if err := s.writeJobs(ctx, tx, jobs, nil, now); err != nil {
			return err
		}
		res.Jobs = jobs
		for _, j := range jobs {
			changes = append(changes, change(j))
		}
		more, err := s.settleDependents(ctx, tx, jobs, now)
		changes = append(changes, more...)
		return err
	})
	if err != nil {
		return nil, s.wrap("rescue", err)
	}
	s.out.add(changes)
	for _, j := range res.Jobs {
		forReader(j)
	}
	return res, nil
}

// limit turns a Limit where zero means no bound into a LIMIT argument.
func limit(n int) pgtype.Int8 { return pgtype.Int8{Int64: int64(n), Valid: n > 0} }
