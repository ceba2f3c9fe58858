package postgres

import (
	"context"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gantry-dev/gantry/store"
)

// Promote makes due scheduled and retrying jobs available, oldest RunAt
// first. Each joins the line at its RunAt, when it became due.
func (s *Store) Promote(ctx context.Context, p *store.PromoteParams) (*store.PromoteResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	now := pgTime(p.Now)
	rows, err := s.pool.Query(ctx, s.q.sql(`UPDATE {jobs} j SET state = 'available', available_at = j.run_at
		FROM (SELECT id FROM {jobs}
			WHERE state IN ('scheduled', 'retrying') AND run_at <= $1
			ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
		WHERE j.id = due.id
		RETURNING j.id::text, j.queue, j.kind, j.state`), now, limit(p.Limit))
	if err != nil {
		return nil, s.wrap("promote", err)
	}
	changes, err := scanChanges(rows)
	if err != nil {
		return nil, s.wrap("promote", err)
	}
	s.out.add(changes)
	return &store.PromoteResult{Promoted: len(changes)}, nil
}

// Prune deletes final jobs that finished before p.FinishedBefore, oldest
// first, and idempotency keys that expired before p.Now.
func (s *Store) Prune(ctx context.Context, p *store.PruneParams) (*store.PruneResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	res := &store.PruneResult{}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res.Deleted, res.BlobKeys = 0, nil
		// Jobs outside workflows go one by one; a workflow goes whole, once
		// it is final and finished before the cutoff.
		var key pgtype.Text
		seen := map[string]bool{}
		for _, sql := range []string{`DELETE FROM {jobs} j
			USING (SELECT id FROM {jobs}
				WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < $1 AND workflow_id IS NULL
				ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED) old
			WHERE j.id = old.id
			RETURNING j.blob_key`, `WITH w AS (
				DELETE FROM {workflows} w USING (SELECT id FROM {workflows}
					WHERE state <> 'running' AND finished_at < $1
					ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED) old
				WHERE w.id = old.id RETURNING w.id)
			DELETE FROM {jobs} j USING w WHERE j.workflow_id = w.id
			RETURNING j.blob_key`} {
			rows, err := tx.Query(ctx, s.q.sql(sql), pgTime(p.FinishedBefore), limit(p.Limit))
			if err != nil {
				return err
			}
			if _, err := pgx.ForEachRow(rows, []any{&key}, func() error {
				res.Deleted++
				if key.Valid && key.String != "" && !seen[key.String] {
					seen[key.String] = true
					res.BlobKeys = append(res.BlobKeys, key.String)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if !p.Now.IsZero() {
			if _, err := tx.Exec(ctx, `DELETE FROM `+s.q.idem+` WHERE expires_at <= $1`,
				pgTime(p.Now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("prune", err)
	}
	return res, nil
}

// Queues counts the jobs of every queue by state. It scans the whole jobs
// table (GROUP BY queue, state), so its cost grows with the jobs kept;
// callers poll it at a human pace (dashboard, metrics scrapes).
func (s *Store) Queues(ctx context.Context) ([]store.QueueInfo, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	byName := map[string]*store.QueueInfo{}
	info := func(name string) *store.QueueInfo {
		q := byName[name]
		if q == nil {
			q = &store.QueueInfo{Name: name, Counts: map[store.State]int64{}}
			byName[name] = q
		}
		return q
	}
	rows, err := s.pool.Query(ctx, `SELECT queue, state, count(*), min(available_at) FILTER (WHERE state = 'available')
		FROM `+s.q.jobs+` GROUP BY queue, state`)
	if err != nil {
		return nil, s.wrap("queues", err)
	}
	var (
		name, state string
		n           int64
		oldest      pgtype.Timestamptz
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &state, &n, &oldest}, func() error {
		q := info(name)
		q.Counts[store.State(state)] = n
		if oldest.Valid {
			q.OldestAvailableAt = oldest.Time.UTC()
		}
		return nil
	}); err != nil {
		return nil, s.wrap("queues", err)
	}
	var paused bool
	var rate pgtype.Text
	var burst pgtype.Int4
	var raw []byte
	rows, err = s.pool.Query(ctx, `SELECT name, paused, rate, burst, limits FROM `+s.q.queues+` WHERE name NOT LIKE '/%'`) // not the token buckets (TakeTokens)
	if err != nil {
		return nil, s.wrap("queues", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&name, &paused, &rate, &burst, &raw}, func() error {
		info(name).Paused = paused
		info(name).Limits = limitsOf(raw, rate, burst)
		return nil
	}); err != nil {
		return nil, s.wrap("queues", err)
	}
	out := make([]store.QueueInfo, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PauseQueue pauses or resumes a queue; the setting outlives its jobs.
func (s *Store) PauseQueue(ctx context.Context, p *store.PauseParams) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := store.CheckName("Queue", p.Queue); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.q.queues+` (name, paused) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused`, p.Queue, p.Paused)
	return s.wrap("pause queue", err)
}
