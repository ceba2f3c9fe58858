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

// Finish records the outcomes of attempts in one transaction of two round
// trips: it locks the jobs (in id order), applies each item with
// store.FinishJob in Go, then writes the changed rows back with one UPDATE
// and releases or cancels their dependents, and commits.
func (s *Store) Finish(ctx context.Context, p *store.FinishParams) (*store.FinishResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	now := pgTime(p.Now)
	ids := make([]string, 0, len(p.Items))
	for _, it := range p.Items {
		if validID(it.ID) {
			ids = append(ids, it.ID)
		}
	}
	var (
		res      *store.FinishResult
		loaded   []*store.Job
		changes  []store.Change
		awaiting []string
	)
	err := s.lockThenWrite(ctx, s.lockSQL(), []any{ids}, collectJobs(&loaded), func(b *pgx.Batch) error {
		awaiting = nil
		res = &store.FinishResult{Jobs: make([]*store.Job, len(p.Items)), Errs: make([]error, len(p.Items))}
		changes = nil
		jobs := byID(loaded, ids)
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
			if it.Outcome == store.OutcomeAwaitChildren {
				awaiting = append(awaiting, j.ID)
			}
		}
		var pending []int
		for _, j := range changed {
			changes = append(changes, change(j))
			// An awaiting job is settled by settleAwait, in a second
			// transaction; until then no child's success may release it.
			n := -1
			if j.State == store.StateWaiting {
				n = awaitSentinel
			}
			pending = append(pending, n)
		}
		if err := s.queueWriteJobs(b, changed, pending, now); err != nil {
			return err
		}
		s.queueSettle(b, changed, now, &changes)
		return nil
	})
	if err != nil {
		return nil, s.wrap("finish", err)
	}
	s.out.add(changes)
	if len(awaiting) > 0 {
		settled, err := s.settleAwait(ctx, awaiting, now)
		if err != nil {
			return nil, s.wrap("finish", err)
		}
		for i, j := range res.Jobs {
			if j != nil && settled[j.ID] != nil {
				res.Jobs[i] = settled[j.ID]
			}
		}
	}
	return res, nil
}

// awaitSentinel is the pending_deps of a job between its await and its
// settling: more than any count, so that no child's success releases it.
const awaitSentinel = 1 << 30

// settleAwait counts what each awaiting job waits for, with the job locked,
// and releases or cancels those that wait for nothing (store.SettleAwait),
// cancelling their dependents as Finish does. A child that finishes
// meanwhile waits for the job's lock and then counts itself down.
func (s *Store) settleAwait(ctx context.Context, ids []string, now time.Time) (map[string]*store.Job, error) {
	out := map[string]*store.Job{}
	var changes []store.Change
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		changes = nil
		jobs, err := s.lockJobs(ctx, tx, ids)
		if err != nil {
			return err
		}
		g := &reviveGraph{ctx: ctx, tx: tx, s: s}
		var write []*store.Job
		var pending []int
		for _, id := range ids {
			j := jobs[id]
			if j == nil || j.State != store.StateWaiting {
				continue
			}
			wids, states, err := g.Waits(j)
			if err != nil {
				return err
			}
			pending = append(pending, store.SettleAwait(j, wids, states, now))
			write = append(write, j)
			changes = append(changes, change(j))
			out[j.ID] = forReader(j)
		}
		b := &pgx.Batch{}
		if err := s.queueWriteJobs(b, write, pending, now); err != nil {
			return err
		}
		s.queueSettle(b, write, now, &changes)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	s.out.add(changes)
	return out, nil
}

// lockSQL reads the jobs with the ids in $1 FOR UPDATE, in id order so
// that two transactions never wait for each other in a circle.
func (s *Store) lockSQL() string {
	return `SELECT ` + jobCols + ` FROM ` + s.q.jobs + ` WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`
}

// lockJobs reads the jobs with the given ids FOR UPDATE in tx.
func (s *Store) lockJobs(ctx context.Context, tx pgx.Tx, ids []string) (map[string]*store.Job, error) {
	rows, err := tx.Query(ctx, s.lockSQL(), ids)
	if err != nil {
		return nil, err
	}
	var jobs []*store.Job
	if err := collectJobs(&jobs)(rows); err != nil {
		return nil, err
	}
	return byID(jobs, ids), nil
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

// queueWriteJobs queues on b the statement that writes the changeable
// columns of jobs back. pending, when not nil, sets pending_deps of jobs[i]
// to pending[i]. available_at becomes now for jobs that became available,
// and run_at for scheduled and retrying ones.
func (s *Store) queueWriteJobs(b *pgx.Batch, jobs []*store.Job, pending []int, now time.Time) error {
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
		snoozes                        = make([]int32, n)
		firstSnoozed                   = make([]pgtype.Timestamptz, n)
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
			e, err := json.Marshal(j.Errors)
			if err != nil {
				return err
			}
			errs[i] = pgtype.Text{String: string(e), Valid: true}
		}
		reason[i], token[i] = text(j.CancelReason), text(j.LeaseToken)
		result[i], checkpoint[i] = nilIfEmpty(j.Result), nilIfEmpty(j.Checkpoint)
		snoozes[i], firstSnoozed[i] = int32(j.Snoozes), timestamptz(j.FirstSnoozedAt)
	}
	b.Queue(s.q.sql(`UPDATE {jobs} j SET
		state = u.state, attempt = u.attempt, run_at = u.run_at,
		available_at = coalesce(u.available_at, j.available_at),
		started_at = u.started_at, finished_at = u.finished_at,
		progress_percent = u.pct, progress_message = u.msg,
		result = u.result, errors = u.errors::jsonb, checkpoint = u.checkpoint,
		cancel_reason = u.reason, lease_token = u.token, lease_expires_at = u.lease_expires_at,
		pending_deps = CASE WHEN u.pending < 0 THEN j.pending_deps ELSE u.pending END,
		snoozes = u.snoozes, first_snoozed_at = u.first_snoozed_at
		FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[],
			$7::timestamptz[], $8::smallint[], $9::text[], $10::bytea[], $11::text[], $12::bytea[], $13::text[],
			$14::text[], $15::timestamptz[], $16::int[], $17::int[], $18::timestamptz[])
			AS u(id, state, attempt, run_at, available_at, started_at, finished_at, pct, msg, result, errors,
				checkpoint, reason, token, lease_expires_at, pending, snoozes, first_snoozed_at)
		WHERE j.id = u.id`),
		ids, states, attempts, runAt, availableAt, startedAt, finishedAt, pct, msg, result, errs,
		checkpoint, reason, token, leaseTo, pendings, snoozes, firstSnoozed)
	return nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// queueSettle queues on b the statements that release the dependents of
// jobs that succeeded and cancel, transitively, those of jobs that failed
// or were cancelled. The changes they make are appended to *changes when
// the batch's results are read.
func (s *Store) queueSettle(b *pgx.Batch, jobs []*store.Job, now time.Time, changes *[]store.Change) {
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
	collect := func(rows pgx.Rows) error {
		cs, err := scanChanges(rows)
		for _, c := range cs {
			if c.State != store.StateWaiting {
				*changes = append(*changes, c)
			}
		}
		return err
	}
	if len(ok) > 0 {
		// A dependent whose last pending dependency succeeded becomes
		// available, or scheduled when its RunAt is still ahead.
		b.Queue(s.q.sql(`UPDATE {jobs} j SET
			pending_deps = greatest(j.pending_deps - d.n, 0),
			state = CASE WHEN j.pending_deps - d.n > 0 THEN 'waiting'
				WHEN j.run_at > $2 THEN 'scheduled' ELSE 'available' END,
			available_at = CASE WHEN j.pending_deps - d.n > 0 THEN j.available_at
				WHEN j.run_at > $2 THEN j.run_at ELSE $2 END
			FROM (SELECT job_id, count(*) AS n FROM {deps}
				WHERE depends_on_id = ANY($1::uuid[]) GROUP BY job_id) d
			WHERE j.id = d.job_id AND j.state = 'waiting'
			RETURNING j.id::text, j.queue, j.kind, j.state`), ok, now).Query(collect)
	}
	if len(bad) > 0 {
		// The non-final dependents, and theirs, are cancelled, each with
		// the dependency that did not succeed as its reason; waiting
		// dependents that run whatever their dependencies' outcome count
		// the ones that ended, and become available at zero.
		b.Queue(s.q.sql(`WITH RECURSIVE c(id, reason) AS (
				SELECT d.job_id, 'dependency ' || r.id || ' ' || r.state
				FROM unnest($1::uuid[], $2::text[]) AS r(id, state)
				JOIN {deps} d ON d.depends_on_id = r.id
				JOIN {jobs} x ON x.id = d.job_id
				WHERE x.state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')
					AND x.if_dependency_fails IS DISTINCT FROM 'run'
			UNION
				SELECT d.job_id, 'dependency ' || c.id || ' cancelled'
				FROM c JOIN {deps} d ON d.depends_on_id = c.id
				JOIN {jobs} x ON x.id = d.job_id
				WHERE x.state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')
					AND x.if_dependency_fails IS DISTINCT FROM 'run'
			), cancelled AS (
				UPDATE {jobs} j SET state = 'cancelled', finished_at = $3, cancel_reason = x.reason,
					lease_token = NULL, lease_expires_at = NULL
				FROM (SELECT DISTINCT ON (id) id, reason FROM c ORDER BY id, reason) x
				WHERE j.id = x.id AND j.state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')
				RETURNING j.id, j.queue, j.kind, j.state
			), ended AS (
				SELECT id FROM unnest($1::uuid[]) AS r(id) UNION ALL SELECT id FROM cancelled
			), released AS (
				UPDATE {jobs} j SET
					pending_deps = greatest(j.pending_deps - d.n, 0),
					state = CASE WHEN j.pending_deps - d.n > 0 THEN 'waiting'
						WHEN j.run_at > $3 THEN 'scheduled' ELSE 'available' END,
					available_at = CASE WHEN j.pending_deps - d.n > 0 THEN j.available_at
						WHEN j.run_at > $3 THEN j.run_at ELSE $3 END
				FROM (SELECT dd.job_id, count(*) AS n FROM {deps} dd JOIN ended e ON e.id = dd.depends_on_id
					GROUP BY dd.job_id) d
				WHERE j.id = d.job_id AND j.state = 'waiting' AND j.if_dependency_fails = 'run'
				RETURNING j.id, j.queue, j.kind, j.state
			)
			SELECT id::text, queue, kind, state FROM cancelled
			UNION ALL SELECT id::text, queue, kind, state FROM released`), bad, badStates, now).Query(collect)
	}
}

// lockThenWrite runs one transaction in two round trips: BEGIN with the
// locking read, then the writes with COMMIT. read consumes the rows of
// the read; write then decides, in Go, and queues the writes on b (with
// callbacks that read their results). A deadlock or serialization failure
// runs the whole again, as inTx does, so read and write must start from
// scratch each time.
func (s *Store) lockThenWrite(ctx context.Context, readSQL string, readArgs []any,
	read func(pgx.Rows) error, write func(b *pgx.Batch) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	for try := 0; ; try++ {
		err := s.lockThenWriteOnce(ctx, readSQL, readArgs, read, write)
		if err == nil || !retryable(err) || try >= s.opts.TxRetries {
			return err
		}
	}
}

func (s *Store) lockThenWriteOnce(ctx context.Context, readSQL string, readArgs []any,
	read func(pgx.Rows) error, write func(b *pgx.Batch) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer func() {
		if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
			// The pool closes a connection left in a transaction, so a
			// failed ROLLBACK loses nothing.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(readSQL, readArgs...).Query(read)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	b = &pgx.Batch{}
	if err := write(b); err != nil {
		return err
	}
	b.Queue("COMMIT")
	return conn.SendBatch(ctx, b).Close()
}

// collectJobs returns a read function for lockThenWrite that scans job
// rows into *jobs.
func collectJobs(jobs *[]*store.Job) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		var err error
		*jobs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Job, error) { return scanJob(r) })
		return err
	}
}

// byID indexes jobs by the ids they were asked by, which may differ in
// case from PostgreSQL's canonical form.
func byID(jobs []*store.Job, asked []string) map[string]*store.Job {
	out := make(map[string]*store.Job, len(jobs))
	for _, j := range jobs {
		out[j.ID] = j
	}
	for _, id := range asked {
		if out[id] != nil {
			continue
		}
		for _, j := range jobs {
			if equalFoldID(j.ID, id) {
				out[id] = j
			}
		}
	}
	return out
}

// Cancel cancels a non-final job and, transitively, its dependents, in
// one transaction of two round trips.
func (s *Store) Cancel(ctx context.Context, p *store.CancelParams) (*store.Job, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if !validID(p.ID) {
		return nil, store.ErrNotFound
	}
	now := pgTime(p.Now)
	var (
		out     *store.Job
		loaded  []*store.Job
		changes []store.Change
	)
	err := s.lockThenWrite(ctx, s.lockSQL(), []any{[]string{p.ID}}, collectJobs(&loaded), func(b *pgx.Batch) error {
		if len(loaded) == 0 {
			return store.ErrNotFound
		}
		j := loaded[0]
		if err := store.CancelJob(j, p.Reason, now); err != nil {
			return err
		}
		out = forReader(j)
		changes = []store.Change{change(j)}
		if err := s.queueWriteJobs(b, []*store.Job{j}, nil, now); err != nil {
			return err
		}
		s.queueSettle(b, []*store.Job{j}, now, &changes)
		return nil
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
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if !validID(p.ID) {
		return nil, store.ErrNotFound
	}
	now := pgTime(p.Now)
	var (
		out     *store.Job
		changes []store.Change
	)
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
		var depState string
		rows, err := tx.Query(ctx, s.q.sql(`SELECT x.state FROM {deps} d
			JOIN {jobs} x ON x.id = d.depends_on_id
			WHERE d.job_id = $1 ORDER BY x.id FOR SHARE OF x`), p.ID)
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&depState}, func() error {
			deps = append(deps, store.State(depState))
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
		pending := 0
		for _, d := range deps {
			if j.IfDependencyFails.Pending(d) {
				pending++
			}
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
		rv, err := store.PlanRevive(&reviveGraph{ctx: ctx, tx: tx, s: s}, j, from)
		if err != nil {
			return err
		}
		write := []*store.Job{j}
		counts := []int{pending}
		for _, list := range [][]*store.Job{rv.Revived, rv.Recount} {
			for _, r := range list {
				write = append(write, r)
				counts = append(counts, rv.Pending[r.ID])
			}
		}
		b := &pgx.Batch{}
		if err := s.queueWriteJobs(b, write, counts, now); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		changes = changes[:0]
		for _, r := range append([]*store.Job{j}, rv.Revived...) {
			changes = append(changes, change(r))
		}
		out = forReader(j)
		return nil
	})
	if err != nil {
		return nil, s.wrap("retry", err)
	}
	s.out.add(changes)
	return out, nil
}

// reviveGraph is store.ReviveGraph in a transaction. It locks the
// dependents it reads FOR UPDATE.
type reviveGraph struct {
	ctx context.Context
	tx  pgx.Tx
	s   *Store
}

func (g *reviveGraph) Dependents(id string) ([]*store.Job, error) {
	rows, err := g.tx.Query(g.ctx, g.s.q.sql(`SELECT `+jobColsOf("x")+` FROM {jobs} x
		JOIN {deps} d ON d.job_id = x.id WHERE d.depends_on_id = $1 ORDER BY x.id FOR UPDATE OF x`), id)
	if err != nil {
		return nil, err
	}
	var jobs []*store.Job
	err = collectJobs(&jobs)(rows)
	return jobs, err
}

func (g *reviveGraph) Waits(j *store.Job) ([]string, []store.State, error) {
	rows, err := g.tx.Query(g.ctx, g.s.q.sql(`SELECT x.id::text, x.state FROM {deps} d
		JOIN {jobs} x ON x.id = d.depends_on_id WHERE d.job_id = $1`), j.ID)
	if err != nil {
		return nil, nil, err
	}
	var (
		ids    []string
		states []store.State
		id, st string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &st}, func() error {
		ids = append(ids, id)
		states = append(states, store.State(st))
		return nil
	})
	return ids, states, err
}

func (g *reviveGraph) UniqueHeld(j *store.Job) (bool, error) {
	if err := g.s.lockKeys(g.ctx, g.tx, []string{j.UniqueKey}); err != nil {
		return false, err
	}
	var n int
	err := g.tx.QueryRow(g.ctx, `SELECT count(*) FROM `+g.s.q.jobs+` WHERE unique_key = $1 AND id <> $2
		AND state IN ('waiting', 'scheduled', 'available', 'running', 'retrying')`, j.UniqueKey, j.ID).Scan(&n)
	return n > 0, err
}

// Rescue ends expired leases: each is a failed attempt, retried after
// p.Backoff or failed when the attempts are used up. Jobs locked by
// another node's Rescue are skipped. One transaction of two round trips.
func (s *Store) Rescue(ctx context.Context, p *store.RescueParams) (*store.RescueResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	now := pgTime(p.Now)
	var (
		jobs    []*store.Job
		changes []store.Change
	)
	err := s.lockThenWrite(ctx, `SELECT `+jobCols+` FROM `+s.q.jobs+`
			WHERE state = 'running' AND lease_expires_at <= $1
			ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, []any{now, limit(p.Limit)},
		collectJobs(&jobs), func(b *pgx.Batch) error {
			changes = nil
			for _, j := range jobs {
				if err := store.RescueJob(j, now, p.Backoff); err != nil {
					return err // the query selected only expired leases
				}
				changes = append(changes, change(j))
			}
			if err := s.queueWriteJobs(b, jobs, nil, now); err != nil {
				return err
			}
			s.queueSettle(b, jobs, now, &changes)
			return nil
		})
	if err != nil {
		return nil, s.wrap("rescue", err)
	}
	s.out.add(changes)
	for _, j := range jobs {
		forReader(j)
	}
	return &store.RescueResult{Jobs: jobs}, nil
}

// limit turns a Limit where zero means no bound into a LIMIT argument.
func limit(n int) pgtype.Int8 { return pgtype.Int8{Int64: int64(n), Valid: n > 0} }
