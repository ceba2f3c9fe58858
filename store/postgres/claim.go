package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gantry-dev/gantry/store"
)

// promoteBatch bounds the due jobs one Claim promotes before claiming.
const promoteBatch = 1000

// asyncCommit, first in a batch (one implicit transaction), lets the
// transaction commit without waiting for its WAL to reach the disk: for
// changes the Driver contract allows to be lost in a crash.
const asyncCommit = `SELECT set_config('synchronous_commit', 'off', true)`

// claimSettings, first in a claim's batch, commits it like asyncCommit and
// turns sorting off for the transaction. A claim must walk jobs_claim_idx
// in order and stop after its LIMIT; but the plan the pool's prepared
// statement settles on is generic (LIMIT unknown), and where the planner's
// statistics predate a burst of jobs (a table autovacuum has not analyzed
// yet) it reads every available job with a bitmap scan and sorts them:
// 1-2 s a claim over 1,000,000 jobs instead of 1 ms. With sorting off, the
// index is the only way to the order (see claim_test.go). Hash and merge
// joins are off too: the claim's LIMIT is the queue's whole tokens
// (claimAllowed), which the planner cannot estimate, and it would
// otherwise join the few claimed ids to every job of the table with a hash
// join (docs/decisions/0018-queue-limits-in-the-stores.md).
const claimSettings = `SELECT set_config('synchronous_commit', 'off', true), set_config('enable_sort', 'off', true),
	set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`

// Claim promotes the queue's due scheduled and retrying jobs, then leases
// up to p.Max available ones with FOR UPDATE SKIP LOCKED, so that claims
// from many nodes never wait for each other or take the same job. Both
// statements go to the server in one round trip.
func (s *Store) Claim(ctx context.Context, p *store.ClaimParams) (*store.ClaimResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if p.Max <= 0 || (p.Kinds != nil && len(p.Kinds) == 0) {
		return &store.ClaimResult{}, nil
	}
	if err := store.CheckLeaseFor(p.Now, p.LeaseFor); err != nil {
		return nil, err
	}
	keyed, err := s.keyedQueues(ctx, s.pool)
	if err != nil {
		return nil, s.wrap("claim", err)
	}
	if keyed[p.Queue] {
		res, ok, err := s.claimKeyed(ctx, p)
		if err != nil {
			return nil, s.wrap("claim", err)
		}
		if ok {
			return res, nil
		}
	}
	br := s.pool.SendBatch(ctx, s.claimBatch(p))
	changes, bk, cs, err := readClaim(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, s.wrap("claim", err)
	}
	res, err := s.finishClaim(ctx, &store.ClaimResult{RateWait: bk.rateWait(p.Max, len(cs))}, changes, cs)
	if err != nil {
		return nil, s.wrap("claim", err)
	}
	return res, nil
}

// finishClaim puts the claimed jobs in res in claim order, announces the
// changes of the claim and reads the dependencies of jobs that wait.
func (s *Store) finishClaim(ctx context.Context, res *store.ClaimResult, changes []store.Change, cs []claimed) (*store.ClaimResult, error) {
	slices.SortFunc(cs, claimOrder)
	res.Jobs = make([]*store.Job, len(cs))
	var waiting []string
	for i, c := range cs {
		res.Jobs[i] = c.job
		changes = append(changes, change(c.job))
		if c.waits {
			waiting = append(waiting, c.job.ID)
		}
	}
	s.out.add(changes)
	if len(waiting) > 0 {
		if err := s.dependencies(ctx, res.Jobs, waiting); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// claimBatch is the round trip of a claim: its settings, the promotion of
// due jobs, and the claim itself.
func (s *Store) claimBatch(p *store.ClaimParams) *pgx.Batch {
	now := pgTime(p.Now)
	expires := pgTime(now.Add(p.LeaseFor))
	exclude := p.ExcludeKinds
	if exclude == nil {
		exclude = []string{}
	}
	b := &pgx.Batch{}
	// The batch is one implicit transaction. A claim need not be durable
	// (a claim lost in a crash leaves the job available), so its commit
	// does not wait for the disk.
	b.Queue(claimSettings)
	b.Queue(s.q.sql(promoteDue), p.Queue, now, promoteBatch)
	// The lease token is the attempt, a dot and 96 random bits in hex, as
	// store.NewLeaseToken makes it: the bits are bytes 1-6 and 11-16 of two
	// version 4 UUIDs from the server's strong random source (the version
	// and variant bits lie in bytes 7 and 9).
	b.Queue(s.q.sql(takeTokens), p.Queue, now)
	b.Queue(s.q.sql(`WITH u AS (UPDATE {jobs} j SET state = 'running', attempt = j.attempt + 1, started_at = $5,
			lease_token = (j.attempt + 1)::text || '.' || encode(
				substring(uuid_send(gen_random_uuid()) FROM 1 FOR 6) ||
				substring(uuid_send(gen_random_uuid()) FROM 11 FOR 6), 'hex'),
			lease_expires_at = $6
		FROM (SELECT id FROM {jobs}
			WHERE queue = $1 AND state = 'available'
				AND ($2::text[] IS NULL OR kind = ANY($2::text[]))
				AND NOT (kind = ANY($3::text[]))
				AND NOT EXISTS (SELECT 1 FROM {queues} q WHERE q.name = $1 AND q.paused)
			ORDER BY priority, available_at, id
			LIMIT `+claimAllowed+` FOR UPDATE SKIP LOCKED) c
		WHERE j.id = c.id
		RETURNING `+jobColsOf("j")+`, j.available_at, j.has_waits), `+claimSpend+`
		SELECT * FROM u`),
		p.Queue, p.Kinds, exclude, p.Max, now, expires)
	return b
}

// claimed is a job a claim leased, with when it became available.
type claimed struct {
	job   *store.Job
	at    time.Time
	waits bool
}

// readClaim reads the answers of a claimBatch: the changes of the jobs it
// promoted, the queue's bucket, and the jobs it claimed, in no order. The
// caller closes br.
func readClaim(br pgx.BatchResults) ([]store.Change, bucket, []claimed, error) {
	if _, err := br.Exec(); err != nil {
		return nil, bucket{}, nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, bucket{}, nil, err
	}
	changes, err := scanChanges(rows)
	if err != nil {
		return nil, bucket{}, nil, err
	}
	bk, err := readBucket(br)
	if err != nil {
		return nil, bucket{}, nil, err
	}
	if rows, err = br.Query(); err != nil {
		return nil, bucket{}, nil, err
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		var err error
		c.job, err = scanJob(r, &c.at, &c.waits)
		return c, err
	})
	return changes, bk, cs, err
}

// claimOrder is the order of the claim's ORDER BY, which UPDATE ...
// RETURNING does not keep: priority, then when the job became available,
// then id.
func claimOrder(a, b claimed) int {
	if a.job.Priority != b.job.Priority {
		return a.job.Priority - b.job.Priority
	}
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return strings.Compare(a.job.ID, b.job.ID)
}

// Heartbeat extends a running job's lease and records its progress and
// checkpoint in one statement.
func (s *Store) Heartbeat(ctx context.Context, p *store.HeartbeatParams) (*store.Job, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if !validID(p.ID) {
		return nil, store.ErrNotFound
	}
	now := pgTime(p.Now)
	var expires pgtype.Timestamptz
	if p.ExtendBy > 0 {
		if err := store.CheckAfter("ExtendBy", p.Now, p.ExtendBy); err != nil {
			return nil, err
		}
		expires = timestamptz(pgTime(now.Add(p.ExtendBy)))
	}
	var pct pgtype.Int2
	var msg pgtype.Text
	if p.Progress != nil {
		if p.Progress.Percent < 0 || p.Progress.Percent > 100 {
			return nil, &store.FieldError{Index: -1, Field: "Progress", Reason: "must be between 0 and 100"}
		}
		if len(p.Progress.Message) > store.MaxProgressMessage {
			return nil, &store.FieldError{Index: -1, Field: "Progress.Message", Reason: "is too long"}
		}
		pct = pgtype.Int2{Int16: int16(p.Progress.Percent), Valid: true}
		msg = pgtype.Text{String: p.Progress.Message, Valid: true}
	}
	var checkpoint []byte
	if p.Checkpoint != nil {
		checkpoint = p.Checkpoint
	}
	// A heartbeat need not be durable: asyncCommit in the same implicit
	// transaction.
	b := &pgx.Batch{}
	b.Queue(asyncCommit)
	b.Queue(`UPDATE `+s.q.jobs+` SET
			lease_expires_at = greatest(coalesce($3, lease_expires_at), lease_expires_at),
			progress_percent = CASE WHEN $4::smallint IS NULL THEN progress_percent ELSE $4 END,
			progress_message = CASE WHEN $4::smallint IS NULL THEN progress_message ELSE $5 END,
			checkpoint = coalesce($6, checkpoint)
		WHERE id = $1 AND state = 'running' AND lease_token = $2
		RETURNING `+jobCols, p.ID, p.LeaseToken, expires, pct, msg, checkpoint)
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var j *store.Job
	if err == nil {
		j, err = scanJob(br.QueryRow())
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if p.Progress != nil || p.Checkpoint != nil {
			c := change(j)
			c.Progress = true
			s.out.add([]store.Change{c})
		}
		return forReader(j), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, s.wrap("heartbeat", err)
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM `+s.q.jobs+` WHERE id = $1`, p.ID).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.wrap("heartbeat", err)
	}
	return nil, store.ErrLeaseLost
}

// dependencies fills the Dependencies of the claimed jobs with the ids in
// waiting, their results capped at store.MaxDependencyResults per job: one
// query over the edges of all of them. A result past the cap is not read.
func (s *Store) dependencies(ctx context.Context, jobs []*store.Job, waiting []string) error {
	byID := make(map[string]*store.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	rows, err := s.pool.Query(ctx, s.q.sql(`SELECT d.job_id::text, x.id::text, x.ref, x.workflow_id::text, x.state,
			octet_length(x.result), CASE WHEN octet_length(x.result) <= $2 THEN x.result END
		FROM {deps} d JOIN {jobs} x ON x.id = d.depends_on_id
		WHERE d.job_id = ANY($1::uuid[]) ORDER BY d.job_id, octet_length(x.result) NULLS FIRST, x.id`),
		waiting, store.MaxDependencyResults)
	if err != nil {
		return err
	}
	budget := map[string]int{}
	var (
		jobID, state string
		dep          store.Job
		ref, wf      pgtype.Text
		size         pgtype.Int4
		result       []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&jobID, &dep.ID, &ref, &wf, &state, &size, &result}, func() error {
		j := byID[jobID]
		if j == nil {
			return nil
		}
		b, ok := budget[jobID]
		if !ok {
			b = store.MaxDependencyResults
		}
		d := store.Job{ID: dep.ID, Ref: ref.String, WorkflowID: wf.String, State: store.State(state),
			Result: slices.Clone(result)}
		store.AddDependency(j, &d, &b)
		if size.Valid && result == nil { // too large to read at all
			k := store.DependencyKey(j, &d)
			e := j.Dependencies[k]
			e.ResultTruncated = true
			j.Dependencies[k] = e
		}
		budget[jobID] = b
		return nil
	})
	return err
}

// promoteDue, first in a claim's batch, makes the scheduled and retrying
// jobs of queue $1 whose run_at ($2) has come available, up to $3 of them,
// and returns them for the change notifications.
const promoteDue = `UPDATE {jobs} j SET state = 'available', available_at = j.run_at
		FROM (SELECT id FROM {jobs}
			WHERE queue = $1 AND state IN ('scheduled', 'retrying') AND run_at <= $2
			ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
		WHERE j.id = due.id
		RETURNING j.id::text, j.queue, j.kind, j.state`
