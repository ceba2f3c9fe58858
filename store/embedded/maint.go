package embedded

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// Rescue ends expired leases, durably. See store.Driver.
func (s *Store) Rescue(ctx context.Context, p *store.RescueParams) (*store.RescueResult, error) {
	jobs, err := submit(ctx, s, &rescueReq{p: p}, durable)
	if err != nil {
		return nil, err
	}
	return &store.RescueResult{Jobs: jobs}, nil
}

type rescueReq struct {
	reqBase[[]*store.Job]
	p *store.RescueParams
}

func (r *rescueReq) apply(tx *txn) {
	p := r.p
	// Leases that end at or before Now have expired.
	keys, err := tx.headKeys(&tx.m.leaseLow, tLease, timeBound(tLease, p.Now.Add(1)), p.Limit)
	if err != nil {
		r.err = err
		return
	}
	for _, k := range keys {
		x, err := tx.load(jobID(k[9:]))
		if err != nil {
			tx.fail(err)
			r.err = err
			return
		}
		if x == nil || x.job.State != store.StateRunning || !x.job.LeaseExpiresAt.Equal(keyTime(k[1:9])) {
			tx.s.log.Warn("embedded: dropping stale lease entry", slog.String("job_id", idString(jobID(k[9:]))))
			tx.del(k)
			continue
		}
		if err := store.RescueJob(&x.job, p.Now, p.Backoff); err != nil {
			continue
		}
		tx.save(x, p.Now)
		tx.runCascades()
		out := x.job
		r.res = append(r.res, &out)
	}
}

// headKeys returns up to limit (0: all) keys of a time table, from *low up
// to before end, and moves *low past them: the caller removes every one.
func (tx *txn) headKeys(low *[]byte, table byte, end []byte, limit int) ([][]byte, error) {
	it, err := tx.b.NewIter(&pebble.IterOptions{LowerBound: *low, UpperBound: end})
	if err != nil {
		tx.fail(err)
		return nil, err
	}
	var keys [][]byte
	for ok := it.First(); ok && (limit <= 0 || len(keys) < limit); ok = it.Next() {
		if k := it.Key(); len(k) > 0 && k[0] == table {
			keys = append(keys, append([]byte(nil), k...))
		}
	}
	if err := it.Close(); err != nil {
		tx.fail(err)
		return nil, err
	}
	if len(keys) > 0 {
		*low = append(append([]byte(nil), keys[len(keys)-1]...), 0)
	}
	return keys, nil
}

// Promote makes due scheduled and retrying jobs available, durably. See
// store.Driver.
func (s *Store) Promote(ctx context.Context, p *store.PromoteParams) (*store.PromoteResult, error) {
	n, err := submit(ctx, s, &promoteReq{p: p}, durable)
	if err != nil {
		return nil, err
	}
	return &store.PromoteResult{Promoted: n}, nil
}

type promoteReq struct {
	reqBase[int]
	p *store.PromoteParams
}

func (r *promoteReq) apply(tx *txn) {
	tx.m.schedNext = time.Time{} // unknown: look at the index itself
	r.res = tx.promoteDue(r.p.Now, r.p.Limit)
	if tx.err != nil {
		r.err = tx.err
	}
}

// Prune deletes jobs that became final before p.FinishedBefore and expired
// idempotency keys, durably. See store.Driver.
func (s *Store) Prune(ctx context.Context, p *store.PruneParams) (*store.PruneResult, error) {
	return submit(ctx, s, &pruneReq{p: p}, durable)
}

type pruneReq struct {
	reqBase[*store.PruneResult]
	p *store.PruneParams
}

func (r *pruneReq) apply(tx *txn) {
	p := r.p
	res := &store.PruneResult{}
	keys, err := tx.headKeys(&tx.m.finLow, tFinished, timeBound(tFinished, p.FinishedBefore), p.Limit)
	if err != nil {
		r.err = err
		return
	}
	for _, k := range keys {
		x, err := tx.load(jobID(k[9:]))
		if err != nil {
			tx.fail(err)
			r.err = err
			return
		}
		if x != nil && x.job.WorkflowID != "" {
			// A workflow goes whole, once it is final and past retention;
			// until then its jobs leave the finished index, and the job that
			// finishes it last brings it back.
			tx.del(k)
			if err := tx.pruneWorkflow(x.job.WorkflowID, p.FinishedBefore, res); err != nil {
				r.err = err
				return
			}
			continue
		}
		tx.singleDel(k)
		if x == nil || !x.job.State.Final() {
			continue
		}
		if err := tx.deleteJob(x, res); err != nil {
			r.err = err
			return
		}
	}
	if !p.Now.IsZero() {
		ikeys, err := tx.headKeys(&tx.m.idemLow, tIdemExpir, timeBound(tIdemExpir, p.Now.Add(1)), 0)
		if err != nil {
			r.err = err
			return
		}
		for _, k := range ikeys {
			tx.del(k)
			key := k[9:]
			v, ok, err := tx.get(strKey(tIdem, string(key)))
			if err != nil {
				tx.fail(err)
				r.err = err
				return
			}
			// Delete the record only if it is the one that expired here.
			if ok {
				d := dec{b: v}
				d.string()
				if at := d.time(); d.err == nil && bytes.Equal(timeBound(tIdemExpir, at), k[:9]) {
					tx.del(strKey(tIdem, string(key)))
				}
			}
		}
	}
	r.res = res
}

// PauseQueue pauses or resumes claiming from a queue, durably.
func (s *Store) PauseQueue(ctx context.Context, p *store.PauseParams) error {
	if err := store.CheckName("Queue", p.Queue); err != nil {
		return err
	}
	_, err := submit(ctx, s, &pauseReq{p: p}, durable)
	return err
}

type pauseReq struct {
	reqBase[struct{}]
	p *store.PauseParams
}

func (r *pauseReq) apply(tx *txn) {
	q := tx.m.queue(r.p.Queue)
	q.paused = r.p.Paused
	q.settings = true
	tx.set(strKey(tQueue, r.p.Queue), []byte{boolByte(r.p.Paused)})
}

// deleteJob deletes a final job with its index entries and edges.
func (tx *txn) deleteJob(x *rec, res *store.PruneResult) error {
	j := &x.job
	tx.singleDel(idKey(tSpec, x.id))
	tx.del(idKey(tState, x.id))
	tx.singleDel(stateKey(j.State, x.id))
	tx.count(j.Queue, j.Kind, j.State, -1)
	for _, d := range j.DependsOn {
		if id, ok := parseID(d); ok {
			tx.del(depKey(id, x.id))
		}
	}
	waits, err := tx.edges(tBlocked, x.id)
	if err != nil {
		tx.fail(err)
		return err
	}
	for _, d := range waits {
		tx.del(depKey(d, x.id))
		tx.del(blockedKey(x.id, d))
	}
	dependents, err := tx.edges(tDep, x.id)
	if err != nil {
		tx.fail(err)
		return err
	}
	for _, d := range dependents {
		tx.del(depKey(x.id, d))
		tx.del(blockedKey(d, x.id))
	}
	if j.Blob != nil && j.Blob.Key != "" {
		res.BlobKeys = append(res.BlobKeys, j.Blob.Key)
	}
	res.Deleted++
	return nil
}

// pruneWorkflow deletes the workflow wf with all its jobs when it is final
// and finished before cutoff.
func (tx *txn) pruneWorkflow(wf string, cutoff time.Time, res *store.PruneResult) error {
	id, ok := parseID(wf)
	if !ok {
		return nil
	}
	w, err := tx.loadWorkflow(id)
	if err != nil {
		tx.fail(err)
		return err
	}
	if w == nil || !w.rec.workflow(id).State.Final() || !w.rec.finishedAt.Before(cutoff) {
		return nil
	}
	var members []jobID
	if err := scan(tx.b, idKey(tWfJob, id), func(k, _ []byte) error {
		if len(k) == 33 {
			members = append(members, jobID(k[17:]))
		}
		return nil
	}); err != nil {
		tx.fail(err)
		return err
	}
	for _, m := range members {
		x, err := tx.load(m)
		if err != nil {
			tx.fail(err)
			return err
		}
		tx.del(wfJobKey(id, m))
		if x == nil {
			continue
		}
		tx.del(timeIDKey(tFinished, x.job.FinishedAt, m))
		if err := tx.deleteJob(x, res); err != nil {
			return err
		}
	}
	tx.del(idKey(tWorkflow, id))
	delete(tx.wfs, id)
	return nil
}
