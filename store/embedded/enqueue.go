package embedded

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/gantry-dev/gantry/store"
)

var emptyArgs = []byte("{}")

// Enqueue records new jobs, all or none, durably. See store.Driver.
func (s *Store) Enqueue(ctx context.Context, p *store.EnqueueParams) (*store.EnqueueResult, error) {
	// Validation runs here, on the caller's goroutine, so that the single
	// committer spends its time on what must be serial.
	if err := store.CheckIdempotencyExpires(p); err != nil {
		return nil, err
	}
	for i, nj := range p.Jobs {
		if nj == nil {
			return nil, &store.FieldError{Index: i, Field: "", Reason: "must not be null"}
		}
		if err := store.ValidateNewIn(nj, p.Workflow != nil); err != nil {
			if fe, ok := err.(*store.FieldError); ok {
				fe.Index = i
			}
			return nil, err
		}
	}
	g, err := store.CheckBatch(p)
	if err != nil {
		return nil, err
	}
	return submit(ctx, s, &enqueueReq{p: p, g: g}, durable)
}

type enqueueReq struct {
	reqBase[*store.EnqueueResult]
	p *store.EnqueueParams
	g *store.Batch
	// wf is the id of the workflow the call creates, or its parent's.
	wf    jobID
	hasWF bool
	// parent is the running job that spawns the call's jobs, if any;
	// parentWaits is set once a child blocks it.
	parent      jobID
	parentWaits bool
}

// planned is one new job after validation.
type planned struct {
	nj       *store.NewJob
	dup      jobID // the existing job when dupOf is set
	dupOf    bool
	dupIndex int // index of an earlier job of the call with the same key, or -1
	state    store.State
	reason   string
	id       jobID   // the new job's id
	waits    []jobID // the jobs it waits for: dependencies, then children
	left     int     // how many of those hold it back
}

func (r *enqueueReq) apply(tx *txn) {
	p := r.p
	if p.IdempotencyKey != "" {
		if replayed, err := r.replay(tx); err != nil || replayed {
			r.err = err
			return
		}
	}
	// Reads and checks first: nothing is written unless every job is valid.
	plans, err := r.plan(tx)
	if err != nil {
		r.err = err
		return
	}
	res, err := r.write(tx, plans)
	if err != nil {
		r.err = err
		return
	}
	if r.parentWaits {
		// The spawning job reads its children's outcomes when it is
		// claimed again.
		x, err := tx.load(r.parent)
		if err != nil {
			tx.fail(err)
			r.err = err
			return
		}
		if x != nil && !x.st.Waits {
			x.st.Waits = true
			tx.set(idKey(tState, x.id), encodeState(&x.st))
			tx.m.remember(x)
		}
	}
	if p.IdempotencyKey != "" {
		r.remember(tx, res)
	}
	r.res = res
}

// plan decides what becomes of each new job: a duplicate of an earlier job
// of the call or of a stored one with its unique key, or a new job in its
// initial state. It only reads. Jobs are planned in the batch's order, so
// that the jobs of the call a job waits for are planned before it.
func (r *enqueueReq) plan(tx *txn) ([]planned, error) {
	plans := make([]planned, len(r.p.Jobs))
	byKey := make(map[string]int)
	wf := r.p.Workflow != nil
	if pl := r.p.Parent; pl != nil {
		id, ok := parseID(pl.ID)
		if !ok {
			return nil, store.ErrNotFound
		}
		x, err := tx.load(id)
		if err != nil {
			return nil, err
		}
		if x == nil {
			return nil, store.ErrNotFound
		}
		if err := store.CheckLease(&x.job, pl.LeaseToken); err != nil {
			return nil, err
		}
		r.parent = id
		if x.job.WorkflowID != "" {
			r.wf, _ = parseID(x.job.WorkflowID)
			r.hasWF = true
		}
	}
	if wf {
		r.hasWF = true
		id, _ := parseID(r.p.Workflow.ID)
		w, err := tx.loadWorkflow(id)
		if err != nil {
			return nil, err
		}
		if w != nil {
			return nil, &store.FieldError{Index: -1, Field: "Workflow.ID", Reason: "is the id of another workflow"}
		}
		r.wf = id
	}
	for i := range plans {
		plans[i].dupIndex = -1
	}
	for _, i := range r.g.Order {
		nj := r.p.Jobs[i]
		pl := &plans[i]
		pl.nj = nj
		if nj.UniqueKey != "" {
			if k, ok := byKey[nj.UniqueKey]; ok {
				if wf {
					return nil, &store.DuplicateError{Index: i, Key: nj.UniqueKey, Existing: r.p.Jobs[k].ID}
				}
				pl.dupIndex = k
				continue
			}
			v, ok, err := tx.get(strKey(tUnique, nj.UniqueKey))
			if err != nil {
				return nil, err
			}
			if ok && len(v) == 16 {
				if wf {
					return nil, &store.DuplicateError{Index: i, Key: nj.UniqueKey, Existing: idString(jobID(v))}
				}
				pl.dupOf = true
				copy(pl.dup[:], v)
				continue
			}
			byKey[nj.UniqueKey] = i
		}
		if err := tx.planRefs(i, r, plans); err != nil {
			return nil, err
		}
	}
	return plans, nil
}

// planRefs gives new job i its id, checks that its parent and the jobs it
// waits for exist, and sets its initial state from their states.
func (tx *txn) planRefs(i int, r *enqueueReq, plans []planned) error {
	pl := &plans[i]
	nj := pl.nj
	if nj.ID != "" {
		pl.id, _ = parseID(nj.ID)
		if _, taken, err := tx.loadState(pl.id); err != nil || taken {
			if err == nil {
				err = &store.FieldError{Index: i, Field: "ID", Reason: "is the id of an existing job"}
			}
			return err
		}
	} else {
		pl.id = jobID(uuid.Must(uuid.NewV7()))
	}
	if nj.ParentID != "" {
		_, inBatch := r.g.Index[strings.ToLower(nj.ParentID)]
		id, ok := parseID(nj.ParentID)
		if ok && !inBatch {
			var err error
			if _, ok, err = tx.loadState(id); err != nil {
				return err
			}
		}
		if !ok {
			return &store.FieldError{Index: i, Field: "ParentID", Reason: "no job " + nj.ParentID}
		}
	}
	waits := r.g.Waits[i]
	states := make([]store.State, len(waits))
	for k, d := range waits {
		if b, ok := r.g.Index[strings.ToLower(d)]; ok {
			bp := &plans[b]
			if bp.dupIndex >= 0 || bp.dupOf {
				return &store.FieldError{Index: i, Field: fmt.Sprintf("DependsOn[%d]", k),
					Reason: "names a job of the call that is not created: its unique key is held"}
			}
			states[k] = bp.state
			pl.waits = append(pl.waits, bp.id)
		} else {
			id, ok := parseID(d)
			var st store.State
			if ok {
				var err error
				if st, ok, err = tx.loadState(id); err != nil {
					return err
				}
			}
			if !ok {
				return &store.FieldError{Index: i, Field: fmt.Sprintf("DependsOn[%d]", k), Reason: "no job " + d}
			}
			states[k] = st
			pl.waits = append(pl.waits, id)
		}
		if nj.IfDependencyFails.Pending(states[k]) {
			pl.left++
		}
	}
	pl.state, pl.reason = store.InitialStateFor(nj.IfDependencyFails, nj.RunAt, r.p.Now, waits, states)
	return nil
}

// write creates the planned jobs and returns the call's result.
func (r *enqueueReq) write(tx *txn, plans []planned) (*store.EnqueueResult, error) {
	res := &store.EnqueueResult{Jobs: make([]store.Enqueued, len(plans))}
	if w := r.p.Workflow; w != nil {
		if tx.wfs == nil {
			tx.wfs = make(map[jobID]*wfEntry)
		}
		tx.wfs[r.wf] = &wfEntry{rec: wfRec{name: w.Name, createdAt: r.p.Now}, dirty: true}
	}
	for _, i := range r.g.Order {
		pl := &plans[i]
		switch {
		case pl.dupIndex >= 0:
			res.Jobs[i] = store.Enqueued{Job: res.Jobs[pl.dupIndex].Job, Duplicate: true}
			continue
		case pl.dupOf:
			x, err := tx.load(pl.dup)
			if err != nil || x == nil {
				tx.fail(fmt.Errorf("embedded: unique key %q names a missing job: %v", pl.nj.UniqueKey, err))
				return nil, tx.err
			}
			x.job.LeaseToken = ""
			res.Jobs[i] = store.Enqueued{Job: &x.job, Duplicate: true}
			continue
		}
		x := tx.insert(pl, r)
		out := x.job
		res.Jobs[i] = store.Enqueued{Job: &out}
	}
	return res, nil
}

// insert writes one new job.
func (tx *txn) insert(pl *planned, r *enqueueReq) *rec {
	nj := pl.nj
	now := r.p.Now
	x := &rec{id: pl.id, isNew: true}
	args := []byte(nj.Args)
	if len(args) == 0 {
		args = emptyArgs
	}
	x.job = store.Job{
		ID:          idString(pl.id),
		Kind:        nj.Kind,
		Queue:       nj.Queue,
		State:       pl.state,
		Args:        args,
		Blob:        nj.Blob,
		Priority:    nj.Priority,
		MaxAttempts: nj.MaxAttempts,
		Timeout:     nj.Timeout,
		UniqueKey:   nj.UniqueKey,
		DependsOn:   nj.DependsOn,
		ParentID:    nj.ParentID,
		RunAt:       nj.RunAt,
		CreatedAt:   now,
		Ref:         nj.Ref,

		IfDependencyFails: nj.IfDependencyFails,
		TraceParent:       nj.TraceParent,
	}
	if q := tx.m.queues[nj.Queue]; q != nil && q.limits.Keyed() {
		x.job.LimitKey = q.limits.KeyOf(nj.Kind, nj.Queue, args)
	}
	if r.hasWF {
		x.job.WorkflowID = idString(r.wf)
		tx.set(wfJobKey(r.wf, x.id), nil)
	}
	if r.p.Parent != nil && nj.ParentID != "" {
		if pid, ok := parseID(nj.ParentID); ok && pid == r.parent {
			// The spawning job waits for its child once it awaits.
			tx.set(depKey(x.id, pid), nil)
			tx.set(blockedKey(pid, x.id), nil)
			tx.m.mayHaveDeps = true
			r.parentWaits = true
		}
	}
	if pl.state == store.StateCancelled {
		x.job.CancelReason = pl.reason
		x.job.FinishedAt = now
	}
	// The edges are kept whatever the states, so that a retry of a job
	// finds the dependents it cancelled (see retry).
	if pl.state == store.StateWaiting {
		x.st.DepsLeft = pl.left
	}
	for _, d := range pl.waits {
		tx.set(depKey(d, x.id), nil)
		tx.set(blockedKey(x.id, d), nil)
		tx.m.mayHaveDeps = true
		x.st.Waits = true
	}
	tx.save(x, now)
	return x
}

// The idempotency record: hash, expiry, then one entry per job of the
// first call: a duplicate flag and the job's id.

func (r *enqueueReq) replay(tx *txn) (bool, error) {
	p := r.p
	v, ok, err := tx.get(strKey(tIdem, p.IdempotencyKey))
	if err != nil || !ok {
		return false, err
	}
	d := dec{b: v}
	hash := d.string()
	expires := d.time()
	n := d.small()
	if d.err != nil {
		return false, fmt.Errorf("embedded: idempotency key %q: %w", p.IdempotencyKey, errCorrupt)
	}
	if !expires.After(p.Now) {
		return false, nil // expired: the key is free again
	}
	if hash != p.IdempotencyHash {
		return false, &store.IdempotencyError{Key: p.IdempotencyKey}
	}
	res := &store.EnqueueResult{Replayed: true}
	for range n {
		dup := d.bool()
		raw := d.raw()
		if d.err != nil || len(raw) != 16 {
			return false, fmt.Errorf("embedded: idempotency key %q: %w", p.IdempotencyKey, errCorrupt)
		}
		x, err := tx.load(jobID(raw))
		if err != nil {
			return false, err
		}
		if x == nil {
			continue // pruned since
		}
		x.job.LeaseToken = ""
		res.Jobs = append(res.Jobs, store.Enqueued{Job: &x.job, Duplicate: dup})
	}
	r.res = res
	return true, nil
}

func (r *enqueueReq) remember(tx *txn, res *store.EnqueueResult) {
	p := r.p
	key := strKey(tIdem, p.IdempotencyKey)
	// An expired record of the same key is replaced; drop its expiry entry.
	if v, ok, _ := tx.get(key); ok {
		d := dec{b: v}
		d.string()
		if old := d.time(); d.err == nil {
			tx.del(idemExpiryKey(old, p.IdempotencyKey))
		}
	}
	e := enc{}
	e.string(p.IdempotencyHash)
	e.time(p.IdempotencyExpires)
	e.uint(uint64(len(res.Jobs)))
	for _, j := range res.Jobs {
		e.bool(j.Duplicate)
		id, _ := parseID(j.Job.ID)
		e.bytes(id[:])
	}
	tx.set(key, e.b)
	ek := idemExpiryKey(p.IdempotencyExpires, p.IdempotencyKey)
	tx.set(ek, nil)
	tx.m.idemLow = minKey(tx.m.idemLow, ek)
}
