package embedded

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// Finish records the outcomes of attempts, each on its own, durably. See
// store.Driver.
func (s *Store) Finish(ctx context.Context, p *store.FinishParams) (*store.FinishResult, error) {
	return submit(ctx, s, &finishReq{p: p}, durable)
}

type finishReq struct {
	reqBase[*store.FinishResult]
	p *store.FinishParams
}

func (r *finishReq) apply(tx *txn) {
	items := r.p.Items
	res := &store.FinishResult{Jobs: make([]*store.Job, len(items)), Errs: make([]error, len(items))}
	for i := range items {
		res.Jobs[i], res.Errs[i] = tx.finishOne(&items[i], r.p)
		if tx.err != nil {
			r.err = tx.err
			return
		}
	}
	r.res = res
}

func (tx *txn) finishOne(it *store.FinishItem, p *store.FinishParams) (*store.Job, error) {
	id, ok := parseID(it.ID)
	if !ok {
		return nil, store.ErrNotFound
	}
	x, err := tx.load(id)
	if err != nil {
		tx.fail(err)
		return nil, err
	}
	if x == nil {
		return nil, store.ErrNotFound
	}
	if err := store.FinishJob(&x.job, it, p.Now); err != nil {
		return nil, err
	}
	if it.Outcome == store.OutcomeAwaitChildren {
		if err := tx.settleAwait(x, p.Now); err != nil {
			return nil, err
		}
	}
	tx.save(x, p.Now)
	// Dependents are updated before the next item, which may depend on them.
	tx.runCascades()
	out := x.job
	return &out, nil
}

// Cancel moves a non-final job to cancelled and cancels its dependents,
// durably. See store.Driver.
func (s *Store) Cancel(ctx context.Context, p *store.CancelParams) (*store.Job, error) {
	return submit(ctx, s, &jobReq{id: p.ID, now: p.Now, fn: func(tx *txn, x *rec) error {
		return store.CancelJob(&x.job, p.Reason, p.Now)
	}}, durable)
}

// Retry moves a failed or cancelled job back to available (or waiting),
// durably. See store.Driver.
func (s *Store) Retry(ctx context.Context, p *store.RetryParams) (*store.Job, error) {
	return submit(ctx, s, &jobReq{id: p.ID, now: p.Now, fn: func(tx *txn, x *rec) error {
		return tx.retry(x, p.Now)
	}}, durable)
}

// jobReq changes one job with fn, which returns an error without writing
// anything or changes x.job for the request to save.
type jobReq struct {
	reqBase[*store.Job]
	id  string
	now time.Time
	fn  func(tx *txn, x *rec) error
}

func (r *jobReq) apply(tx *txn) {
	id, ok := parseID(r.id)
	if !ok {
		r.err = store.ErrNotFound
		return
	}
	x, err := tx.load(id)
	if err != nil {
		tx.fail(err)
		r.err = err
		return
	}
	if x == nil {
		r.err = store.ErrNotFound
		return
	}
	if err := r.fn(tx, x); err != nil {
		r.err = err
		return
	}
	tx.save(x, r.now)
	out := x.job
	out.LeaseToken = ""
	r.res = &out
}

// retry checks what store.RetryJob cannot know (the states of the jobs x
// waits for, who holds the unique key), retries x, and revives the
// dependents x had cancelled (store.PlanRevive).
func (tx *txn) retry(x *rec, now time.Time) error {
	waits, err := tx.edges(tBlocked, x.id)
	if err != nil {
		tx.fail(err)
		return err
	}
	states := make([]store.State, len(waits))
	for i, id := range waits {
		states[i] = store.StateSucceeded // a dependency pruned since was final
		st, ok, err := tx.loadState(id)
		if err != nil {
			tx.fail(err)
			return err
		}
		if ok {
			states[i] = st
		}
	}
	if k := x.job.UniqueKey; k != "" {
		v, ok, err := tx.get(strKey(tUnique, k))
		if err != nil {
			tx.fail(err)
			return err
		}
		if ok && jobID(v) != x.id {
			return &store.TransitionError{ID: x.job.ID, From: x.job.State, To: store.StateAvailable,
				Reason: fmt.Sprintf("unique key %q is held by job %s", k, idString(jobID(v)))}
		}
	}
	from := x.job.State
	if err := store.RetryJob(&x.job, states, now); err != nil {
		return err
	}
	if x.job.State == store.StateWaiting {
		x.st.DepsLeft = 0
		for _, st := range states {
			if x.job.IfDependencyFails.Pending(st) {
				x.st.DepsLeft++
			}
		}
	}
	g := &reviveGraph{tx: tx, recs: map[jobID]*rec{}}
	rv, err := store.PlanRevive(g, &x.job, from)
	if err != nil {
		tx.fail(err)
		return err
	}
	for _, list := range [][]*store.Job{rv.Revived, rv.Recount} {
		for _, j := range list {
			id, _ := parseID(j.ID)
			r := g.recs[id]
			r.st.DepsLeft = rv.Pending[j.ID]
			if r.job.State == r.old.State {
				tx.deferDepsLeft(r)
				continue
			}
			tx.save(r, now)
		}
	}
	return nil
}

// reviveGraph is store.ReviveGraph over a group's batch.
type reviveGraph struct {
	tx   *txn
	recs map[jobID]*rec
}

func (g *reviveGraph) Dependents(id string) ([]*store.Job, error) {
	jid, _ := parseID(id)
	ids, err := g.tx.edges(tDep, jid)
	if err != nil {
		return nil, err
	}
	out := make([]*store.Job, 0, len(ids))
	for _, d := range ids {
		r := g.recs[d]
		if r == nil {
			if r, err = g.tx.load(d); err != nil {
				return nil, err
			}
			if r == nil {
				continue
			}
			g.recs[d] = r
		}
		out = append(out, &r.job)
	}
	return out, nil
}

func (g *reviveGraph) Waits(j *store.Job) ([]string, []store.State, error) {
	jid, _ := parseID(j.ID)
	ids, err := g.tx.edges(tBlocked, jid)
	if err != nil {
		return nil, nil, err
	}
	out := make([]string, len(ids))
	states := make([]store.State, len(ids))
	for i, d := range ids {
		out[i] = idString(d)
		states[i] = store.StateSucceeded
		if st, ok, err := g.tx.loadState(d); err != nil {
			return nil, nil, err
		} else if ok {
			states[i] = st
		}
	}
	return out, states, nil
}

func (g *reviveGraph) UniqueHeld(j *store.Job) (bool, error) {
	v, ok, err := g.tx.get(strKey(tUnique, j.UniqueKey))
	if err != nil || !ok {
		return false, err
	}
	jid, _ := parseID(j.ID)
	return jobID(v) != jid, nil
}

// settleAwait counts what a job that awaits its children waits for, and
// releases or cancels it when nothing is pending (store.SettleAwait).
func (tx *txn) settleAwait(x *rec, now time.Time) error {
	waits, err := tx.edges(tBlocked, x.id)
	if err != nil {
		tx.fail(err)
		return err
	}
	ids := make([]string, len(waits))
	states := make([]store.State, len(waits))
	for i, d := range waits {
		ids[i] = idString(d)
		states[i] = store.StateSucceeded
		st, ok, err := tx.loadState(d)
		if err != nil {
			tx.fail(err)
			return err
		}
		if ok {
			states[i] = st
		}
	}
	x.st.DepsLeft = store.SettleAwait(&x.job, ids, states, now)
	return nil
}
