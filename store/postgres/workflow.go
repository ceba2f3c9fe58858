package postgres

import (
	"context"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gantry-dev/gantry/store"
)

// wfCols are the columns scanWorkflow reads, in order.
const wfCols = `id::text, name, created_at, finished_at, n_waiting, n_scheduled, n_available, n_running,
	n_retrying, n_succeeded, n_failed, n_cancelled`

// wfStates are the states of the count columns of wfCols, in order.
var wfStates = []store.State{store.StateWaiting, store.StateScheduled, store.StateAvailable, store.StateRunning,
	store.StateRetrying, store.StateSucceeded, store.StateFailed, store.StateCancelled}

func scanWorkflow(row pgx.Row) (*store.Workflow, error) {
	var (
		w        store.Workflow
		finished pgtype.Timestamptz
		n        [8]int64
	)
	if err := row.Scan(&w.ID, &w.Name, &w.CreatedAt, &finished, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7]); err != nil {
		return nil, err
	}
	w.CreatedAt = w.CreatedAt.UTC()
	w.FinishedAt = utc(finished)
	w.Counts = make(map[store.State]int64)
	for i, s := range wfStates {
		if n[i] != 0 {
			w.Counts[s] = n[i]
		}
	}
	w.State = store.WorkflowStateOf(w.Counts)
	return &w, nil
}

// Workflow returns the workflow with the given id, or store.ErrNotFound.
func (s *Store) Workflow(ctx context.Context, id string) (*store.Workflow, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, store.ErrNotFound
	}
	w, err := scanWorkflow(s.pool.QueryRow(ctx, `SELECT `+wfCols+` FROM `+s.q.wf+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, s.wrap("workflow", err)
	}
	return w, nil
}

// ListWorkflows returns workflows newest first (by id, which is
// time-ordered). See store.Workflows.
func (s *Store) ListWorkflows(ctx context.Context, p *store.WorkflowListParams) (*store.WorkflowListResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if p.State != "" && !p.State.Valid() {
		return nil, &store.FieldError{Index: -1, Field: "State", Reason: "unknown workflow state " + string(p.State)}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	limit = min(limit, store.MaxListLimit)
	sql := `SELECT ` + wfCols + ` FROM ` + s.q.wf + ` WHERE ($1 = '' OR state = $1)`
	args := []any{string(p.State)}
	if p.Cursor != "" {
		if !validID(p.Cursor) {
			return nil, &store.FieldError{Index: -1, Field: "Cursor", Reason: "not a cursor of this store"}
		}
		args = append(args, p.Cursor)
		sql += ` AND id < $2`
	}
	args = append(args, limit+1)
	sql += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.wrap("list workflows", err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Workflow, error) { return scanWorkflow(r) })
	if err != nil {
		return nil, s.wrap("list workflows", err)
	}
	res := &store.WorkflowListResult{Workflows: ws}
	if len(ws) > limit {
		res.Workflows = ws[:limit]
		res.Next = ws[limit-1].ID
	}
	return res, nil
}

// CancelWorkflow cancels every job of the workflow that is not final, and
// their dependents outside it, in one transaction. See store.Workflows.
func (s *Store) CancelWorkflow(ctx context.Context, p *store.CancelWorkflowParams) (*store.Workflow, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if !validID(p.ID) {
		return nil, store.ErrNotFound
	}
	now := pgTime(p.Now)
	reason := p.Reason
	if reason == "" {
		reason = "workflow cancelled"
	}
	var (
		out     *store.Workflow
		loaded  []*store.Job
		changes []store.Change
	)
	err := s.lockThenWrite(ctx, `SELECT `+jobCols+` FROM `+s.q.jobs+` WHERE workflow_id = $1
			AND state IN ('waiting', 'scheduled', 'available', 'running', 'retrying') ORDER BY id FOR UPDATE`,
		[]any{p.ID}, collectJobs(&loaded), func(b *pgx.Batch) error {
			changes = nil
			for _, j := range loaded {
				if err := store.CancelJob(j, reason, now); err != nil {
					return err
				}
				changes = append(changes, change(j))
			}
			if err := s.queueWriteJobs(b, loaded, nil, now); err != nil {
				return err
			}
			s.queueSettle(b, loaded, now, &changes)
			b.Queue(`SELECT `+wfCols+` FROM `+s.q.wf+` WHERE id = $1`, p.ID).QueryRow(func(row pgx.Row) error {
				var err error
				out, err = scanWorkflow(row)
				if errors.Is(err, pgx.ErrNoRows) {
					return store.ErrNotFound
				}
				return err
			})
			return nil
		})
	if err != nil {
		return nil, s.wrap("cancel workflow", err)
	}
	s.out.add(changes)
	return out, nil
}

var _ store.Workflows = (*Store)(nil)
