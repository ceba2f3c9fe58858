package embedded

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// dependencies fills j.Dependencies with the outcomes of the jobs j waits
// for, their results capped at store.MaxDependencyResults in all. The
// edges list them in id order, so one iterator per table reads them all
// (a parent of 10,000 children reads its children in a walk, not in 20,000
// point reads).
func (tx *txn) dependencies(j *store.Job) error {
	id, _ := parseID(j.ID)
	waits, err := tx.edges(tBlocked, id)
	if err != nil || len(waits) == 0 {
		return err
	}
	rr, err := tx.newRecReader()
	if err != nil {
		return err
	}
	budget := store.MaxDependencyResults
	for _, d := range waits {
		x, err := rr.load(d)
		if err != nil {
			rr.close()
			return err
		}
		if x != nil {
			store.AddDependency(j, &x.job, &budget)
		}
	}
	return rr.close()
}

// recReader loads jobs in ascending id order, as tx.load does, with one
// iterator over the states and one over the specs: each seek moves
// forward from the last, which costs less than a point read per table
// when the ids are close together (the jobs of one workflow are).
type recReader struct {
	tx          *txn
	state, spec *pebble.Iterator
}

func (tx *txn) newRecReader() (*recReader, error) {
	state, err := tx.b.NewIter(&pebble.IterOptions{LowerBound: []byte{tState}, UpperBound: []byte{tState + 1}})
	if err != nil {
		return nil, err
	}
	spec, err := tx.b.NewIter(&pebble.IterOptions{LowerBound: []byte{tSpec}, UpperBound: []byte{tSpec + 1}})
	if err != nil {
		state.Close()
		return nil, err
	}
	return &recReader{tx: tx, state: state, spec: spec}, nil
}

// load returns the job with the given id, or nil when there is none; ids
// must come in ascending order.
func (rr *recReader) load(id jobID) (*rec, error) {
	if x, ok := rr.tx.m.running[id]; ok {
		c := *x
		return &c, nil
	}
	if x, ok := rr.tx.deferred(id); ok {
		return x, nil
	}
	sv, ok, err := seekValue(rr.state, idKey(tState, id))
	if err != nil || !ok {
		return nil, err
	}
	x := &rec{id: id}
	if err := decodeState(sv, &x.st); err != nil {
		return nil, fmt.Errorf("embedded: job %s: state: %w", idString(id), err)
	}
	v, ok, err := seekValue(rr.spec, idKey(tSpec, id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("embedded: job %s has a state but no spec", idString(id))
	}
	if err := decodeSpec(v, &x.job); err != nil {
		return nil, fmt.Errorf("embedded: job %s: spec: %w", idString(id), err)
	}
	x.job.ID = idString(id)
	x.st.toJob(&x.job)
	x.old = x.st
	return x, nil
}

// seekValue moves it to k and returns k's value, valid until it moves
// again, or false when k does not exist.
func seekValue(it *pebble.Iterator, k []byte) ([]byte, bool, error) {
	if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
		return nil, false, it.Error()
	}
	v, err := it.ValueAndErr()
	return v, err == nil, err
}

func (rr *recReader) close() error {
	err := rr.state.Close()
	if e := rr.spec.Close(); err == nil {
		err = e
	}
	return err
}

// Workflow returns the workflow with the given id, or store.ErrNotFound.
// It reads committed data without waiting for the committer.
func (s *Store) Workflow(ctx context.Context, id string) (*store.Workflow, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	defer s.readMu.RUnlock()
	wid, ok := parseID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	v, ok, err := getCopy(s.db, idKey(tWorkflow, wid))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, store.ErrNotFound
	}
	var w wfRec
	if err := decodeWorkflow(v, &w); err != nil {
		return nil, err
	}
	return w.workflow(wid), nil
}

// ListWorkflows returns workflows newest first, walking the workflow
// records (a state filter is checked on each). See store.Workflows.
func (s *Store) ListWorkflows(ctx context.Context, p *store.WorkflowListParams) (*store.WorkflowListResult, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	defer s.readMu.RUnlock()
	if p.State != "" && !p.State.Valid() {
		return nil, &store.FieldError{Index: -1, Field: "State", Reason: "unknown workflow state " + string(p.State)}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	limit = min(limit, store.MaxListLimit)
	lower := []byte{tWorkflow}
	upper := prefixEnd(lower)
	if p.Cursor != "" {
		id, ok := parseID(p.Cursor)
		if !ok {
			return nil, &store.FieldError{Index: -1, Field: "Cursor", Reason: "not a cursor of this store"}
		}
		upper = idKey(tWorkflow, id)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	res := &store.WorkflowListResult{}
	for ok := it.Last(); ok; ok = it.Prev() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := it.Key()
		if len(k) != 17 {
			continue
		}
		var w wfRec
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		if err := decodeWorkflow(v, &w); err != nil {
			return nil, err
		}
		wf := w.workflow(jobID(k[1:]))
		if p.State != "" && wf.State != p.State {
			continue
		}
		if len(res.Workflows) == limit {
			res.Next = res.Workflows[limit-1].ID
			break
		}
		res.Workflows = append(res.Workflows, wf)
	}
	return res, it.Error()
}

// CancelWorkflow cancels every job of the workflow that is not final,
// durably. See store.Workflows.
func (s *Store) CancelWorkflow(ctx context.Context, p *store.CancelWorkflowParams) (*store.Workflow, error) {
	return submit(ctx, s, &cancelWorkflowReq{p: p}, durable)
}

type cancelWorkflowReq struct {
	reqBase[*store.Workflow]
	p *store.CancelWorkflowParams
}

func (r *cancelWorkflowReq) apply(tx *txn) {
	id, ok := parseID(r.p.ID)
	if !ok {
		r.err = store.ErrNotFound
		return
	}
	w, err := tx.loadWorkflow(id)
	if err != nil {
		tx.fail(err)
		r.err = err
		return
	}
	if w == nil {
		r.err = store.ErrNotFound
		return
	}
	reason := r.p.Reason
	if reason == "" {
		reason = "workflow cancelled"
	}
	var members []jobID
	if err := scan(tx.b, idKey(tWfJob, id), func(k, _ []byte) error {
		if len(k) == 33 {
			members = append(members, jobID(k[17:]))
		}
		return nil
	}); err != nil {
		tx.fail(err)
		r.err = err
		return
	}
	for _, m := range members {
		x, err := tx.load(m)
		if err != nil {
			tx.fail(err)
			r.err = err
			return
		}
		if x == nil || x.job.State.Final() {
			continue
		}
		_ = store.CancelJob(&x.job, reason, r.p.Now)
		tx.save(x, r.p.Now)
	}
	r.res = w.rec.workflow(id)
}

var _ store.Workflows = (*Store)(nil)
