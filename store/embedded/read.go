package embedded

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// Get returns the job with the given id, or store.ErrNotFound. It reads
// committed data without waiting for the committer.
func (s *Store) Get(ctx context.Context, id string) (*store.Job, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	defer s.readMu.RUnlock()
	jid, ok := parseID(id)
	if !ok {
		return nil, store.ErrNotFound
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	x, err := loadRec(snap, jid)
	if err != nil {
		return nil, err
	}
	if x == nil {
		return nil, store.ErrNotFound
	}
	x.job.LeaseToken = ""
	return &x.job, nil
}

// readable read-locks the database for a direct read, or fails once the
// store is closed or ctx is done. On success the caller unlocks readMu.
func (s *Store) readable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.readMu.RLock()
	if s.dbClosed {
		s.readMu.RUnlock()
		return store.ErrClosed
	}
	if err := s.brokenErr(); err != nil {
		// The database may hold what a failed commit wrote, which was
		// never acknowledged: reads wait for the reopen too.
		s.readMu.RUnlock()
		return err
	}
	return nil
}

// List returns jobs newest first. With a state it walks that state's
// index, otherwise every job; kind, queue and parent filters are checked
// on each job. The cursor is the id of the last job of the previous page.
func (s *Store) List(ctx context.Context, p *store.ListParams) (*store.ListResult, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	defer s.readMu.RUnlock()
	if p.State != "" && !p.State.Valid() {
		return nil, &store.FieldError{Index: -1, Field: "State", Reason: "unknown state " + string(p.State)}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	limit = min(limit, store.MaxListLimit)

	var lower []byte
	byWorkflow := false
	switch {
	case p.State != "":
		lower = []byte{tByState, stateByte(p.State)}
	case p.WorkflowID != "":
		wid, ok := parseID(p.WorkflowID)
		if !ok {
			return &store.ListResult{}, nil
		}
		lower = idKey(tWfJob, wid)
		byWorkflow = true
	default:
		lower = []byte{tSpec}
	}
	upper := prefixEnd(lower)
	if p.Cursor != "" {
		id, ok := parseID(p.Cursor)
		if !ok {
			return nil, &store.FieldError{Index: -1, Field: "Cursor", Reason: "not a cursor of this store"}
		}
		upper = append(append([]byte(nil), lower...), id[:]...)
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()

	res := &store.ListResult{}
	for ok := it.Last(); ok; ok = it.Prev() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := it.Key()
		if len(k) != len(lower)+16 {
			continue
		}
		id := jobID(k[len(lower):])
		var x *rec
		if p.State == "" && !byWorkflow {
			// The spec is at hand: filter before reading the state.
			var j store.Job
			v, err := it.ValueAndErr()
			if err != nil {
				return nil, err
			}
			if err := decodeSpec(v, &j); err != nil {
				return nil, err
			}
			if !matches(&j, p) {
				continue
			}
		}
		if x, err = loadRec(snap, id); err != nil {
			return nil, err
		}
		if x == nil || !matches(&x.job, p) {
			continue
		}
		if len(res.Jobs) == limit {
			// One more matches: there is a next page.
			res.Next = res.Jobs[limit-1].ID
			break
		}
		x.job.LeaseToken = ""
		res.Jobs = append(res.Jobs, &x.job)
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	return res, nil
}

func matches(j *store.Job, p *store.ListParams) bool {
	return (p.Kind == "" || j.Kind == p.Kind) &&
		(p.Queue == "" || j.Queue == p.Queue) &&
		(p.ParentID == "" || j.ParentID == p.ParentID) &&
		(p.WorkflowID == "" || strings.EqualFold(j.WorkflowID, p.WorkflowID))
}

// Queues returns every queue that has jobs or settings, by name, from the
// counters kept in memory. It goes through the committer, so its counts
// include every change acknowledged before the call.
func (s *Store) Queues(ctx context.Context) ([]store.QueueInfo, error) {
	return submit(ctx, s, &queuesReq{}, applied)
}

type queuesReq struct {
	reqBase[[]store.QueueInfo]
}

func (r *queuesReq) apply(tx *txn) {
	res := make([]store.QueueInfo, 0, len(tx.m.queues))
	for _, q := range tx.m.queues {
		info := store.QueueInfo{Name: q.name, Paused: q.paused, Counts: make(map[store.State]int64), Limits: q.limitsOf()}
		for _, k := range q.kindList {
			for b := 1; b <= numStates; b++ {
				if n := k.counts[b]; n != 0 {
					info.Counts[byteStates[b]] += n
				}
			}
		}
		if len(info.Counts) == 0 && !q.settings {
			continue
		}
		if info.Counts[store.StateAvailable] > 0 {
			at, err := tx.oldestAvailable(q)
			if err != nil {
				r.err = err
				return
			}
			info.OldestAvailableAt = at
		}
		res = append(res, info)
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Name < res[j].Name })
	r.res = res
}

// oldestAvailable is the earliest "available since" among the heads of the
// queue's available index.
func (tx *txn) oldestAvailable(q *queueMem) (time.Time, error) {
	var oldest time.Time
	for _, k := range q.kindList {
		for prio := store.MinPriority; prio <= store.MaxPriority; prio++ {
			pm := k.prios[prio]
			if pm.avail <= 0 {
				continue
			}
			prefix := availPrefix(q.name, k.name, prio)
			it, err := tx.b.NewIter(&pebble.IterOptions{
				LowerBound: append(prefix, pm.cursor[:]...),
				UpperBound: prefixEnd(prefix),
			})
			if err != nil {
				return time.Time{}, err
			}
			if it.First() {
				if k := it.Key(); len(k) == len(prefix)+16 {
					if at := availPos(k[len(prefix):]).since(); oldest.IsZero() || at.Before(oldest) {
						oldest = at
					}
				}
			}
			if err := it.Close(); err != nil {
				return time.Time{}, err
			}
		}
	}
	return oldest, nil
}
