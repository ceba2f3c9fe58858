package embedded

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// Claim leases up to p.Max available jobs of one queue. It is not durable
// on return; see store.Driver.
func (s *Store) Claim(ctx context.Context, p *store.ClaimParams) (*store.ClaimResult, error) {
	if p.Max <= 0 {
		return &store.ClaimResult{}, nil
	}
	if err := store.CheckLeaseFor(p.Now, p.LeaseFor); err != nil {
		return nil, err
	}
	r := &claimReq{p: p}
	jobs, err := submit(ctx, s, r, applied)
	if err != nil {
		return nil, err
	}
	return &store.ClaimResult{Jobs: jobs, RateWait: r.rateWait}, nil
}

type claimReq struct {
	reqBase[[]*store.Job]
	p        *store.ClaimParams
	rateWait time.Duration // ClaimResult.RateWait
}

// candidate is an entry of the available index.
type candidate struct {
	kind *kindMem
	pos  availPos
	id   jobID
}

// apply claims, priority by priority, the jobs of the kinds it may take
// that became available first.
func (r *claimReq) apply(tx *txn) {
	p := r.p
	tx.promoteDue(p.Now, tx.s.opts.PromoteLimit)
	q := tx.m.queues[p.Queue]
	kinds := claimKinds(q, p)
	if len(kinds) == 0 {
		return
	}
	allowed := q.claimLimit(p)
	var keyWait time.Duration
	defer func() {
		r.rateWait = q.settleLimit(p, allowed, len(r.res))
		if r.rateWait == 0 {
			r.rateWait = keyWait
		}
	}()
	if q.keyed != nil {
		keyWait = r.claimKeyed(tx, q, allowed)
		return
	}
	sc := &availScan{tx: tx, queue: p.Queue}
	defer sc.close()
	for prio := store.MinPriority; prio <= store.MaxPriority && len(r.res) < allowed; prio++ {
		cands, err := sc.candidates(kinds, prio, allowed-len(r.res))
		if err == nil {
			err = r.claim(tx, prio, cands)
		}
		if err != nil {
			r.err = err
			return
		}
	}
}

// claimKinds returns the kinds of queue q that a claim with p may take:
// none when the queue has no jobs or is paused.
func claimKinds(q *queueMem, p *store.ClaimParams) []*kindMem {
	if q == nil || q.paused {
		return nil
	}
	kinds := make([]*kindMem, 0, len(q.kindList))
	for _, k := range q.kindList {
		if (p.Kinds == nil || slices.Contains(p.Kinds, k.name)) && !slices.Contains(p.ExcludeKinds, k.name) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// availScan reads one queue's available index for a claim, with an
// iterator opened when first needed.
type availScan struct {
	tx    *txn
	queue string
	it    *pebble.Iterator
	cands []candidate // reused from one priority to the next
}

func (sc *availScan) open() error {
	lower := queueKindPrefix(tAvail, sc.queue, "")
	lower = lower[:len(lower)-1] // "a" queue 0
	it, err := sc.tx.b.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		sc.tx.fail(err)
		return err
	}
	sc.it = it
	return nil
}

func (sc *availScan) close() {
	if sc.it != nil {
		sc.it.Close()
	}
}

// candidates returns up to limit available jobs of priority prio among
// kinds, in the order they became available. The slice is valid until
// the next call.
func (sc *availScan) candidates(kinds []*kindMem, prio, limit int) ([]candidate, error) {
	cands := sc.cands[:0]
	for _, k := range kinds {
		pm := &k.prios[prio]
		if pm.avail <= 0 {
			continue
		}
		if sc.it == nil {
			if err := sc.open(); err != nil {
				return nil, err
			}
		}
		// Start at the cursor: the entries before it were claimed and
		// only their tombstones may remain.
		prefix := availPrefix(sc.queue, k.name, prio)
		n := 0
		for ok := sc.it.SeekGE(append(prefix, pm.cursor[:]...)); ok && n < limit; ok = sc.it.Next() {
			key := sc.it.Key()
			if !bytes.HasPrefix(key, prefix) || len(key) != len(prefix)+16 {
				break
			}
			v := sc.it.Value()
			if len(v) != 16 {
				sc.tx.fail(fmt.Errorf("embedded: bad available entry %q", key))
				return nil, sc.tx.err
			}
			c := candidate{kind: k, pos: availPos(key[len(prefix):])}
			copy(c.id[:], v)
			cands = append(cands, c)
			n++
		}
	}
	sc.cands = cands
	// Each kind's entries are in order already; several kinds' are merged.
	if len(cands) > limit || len(kinds) > 1 {
		slices.SortFunc(cands, func(a, b candidate) int {
			return bytes.Compare(a.pos[:], b.pos[:])
		})
	}
	return cands[:min(len(cands), limit)], nil
}

// claim leases the candidates of priority prio and moves each kind's
// cursor past them.
func (r *claimReq) claim(tx *txn, prio int, cands []candidate) error {
	p := r.p
	for _, c := range cands {
		x, err := tx.load(c.id)
		if err != nil || x == nil {
			tx.fail(fmt.Errorf("embedded: available entry names job %s: %v", idString(c.id), err))
			return tx.err
		}
		pm := &c.kind.prios[prio]
		if bytes.Compare(c.pos[:], pm.cursor[:]) >= 0 {
			pm.cursor = c.pos.next()
			tx.dirtyCursors[cursorID{p.Queue, c.kind.name, prio}] = struct{}{}
		}
		if err := r.lease(tx, x); err != nil {
			return err
		}
	}
	return nil
}

// lease leases the available job x and adds it to the claim's jobs.
func (r *claimReq) lease(tx *txn, x *rec) error {
	p := r.p
	if err := store.ClaimJob(&x.job, store.NewLeaseToken(x.job.Attempt+1), p.LeaseFor, p.Now); err != nil {
		tx.fail(fmt.Errorf("embedded: available entry of a job that is %s", x.job.State))
		return tx.err
	}
	tx.save(x, p.Now)
	out := x.job
	if x.st.Waits || len(out.DependsOn) > 0 {
		if err := tx.dependencies(&out); err != nil {
			tx.fail(err)
			return err
		}
	}
	r.res = append(r.res, &out)
	return nil
}

// promoteDue makes up to limit scheduled and retrying jobs whose RunAt is
// not after now available, in RunAt order. It returns how many it moved.
func (tx *txn) promoteDue(now time.Time, limit int) int {
	if !tx.m.schedNext.IsZero() && tx.m.schedNext.After(now) {
		return 0
	}
	it, err := tx.b.NewIter(&pebble.IterOptions{LowerBound: tx.m.schedLow, UpperBound: []byte{tSched + 1}})
	if err != nil {
		tx.fail(err)
		return 0
	}
	var due [][]byte
	var last []byte
	next := time.Time{}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 25 {
			continue
		}
		at := keyTime(k[1:9])
		if at.After(now) {
			next = at
			break
		}
		if limit > 0 && len(due) == limit {
			next = at
			break
		}
		due = append(due, append([]byte(nil), k...))
		last = due[len(due)-1]
	}
	if err := it.Close(); err != nil {
		tx.fail(err)
		return 0
	}
	if last != nil {
		// Every entry up to last is promoted below: start after it next time.
		tx.m.schedLow = append(append([]byte(nil), last...), 0)
	}
	n := 0
	for _, k := range due {
		x, err := tx.load(jobID(k[9:]))
		if err != nil {
			tx.fail(err)
			return n
		}
		if x == nil || !isSched(x.job.State) || !x.job.RunAt.Equal(keyTime(k[1:9])) {
			// A stale entry; the index and the job disagree. Drop it.
			tx.s.log.Warn("embedded: dropping stale scheduled entry", slog.String("job_id", idString(jobID(k[9:]))))
			tx.del(k)
			continue
		}
		store.PromoteJob(&x.job, now)
		tx.save(x, x.job.RunAt)
		n++
	}
	// save lowers schedNext for new entries; after this walk the head is
	// known exactly.
	tx.m.schedNext = next
	if next.IsZero() {
		tx.m.schedNext = farFuture
	}
	return n
}

// farFuture stands for "no scheduled job" in memory.schedNext.
var farFuture = time.Unix(1<<40, 0)

// Heartbeat extends the lease of a running job and records its progress.
// It is not durable on return; see store.Driver.
func (s *Store) Heartbeat(ctx context.Context, p *store.HeartbeatParams) (*store.Job, error) {
	if p.ExtendBy > 0 {
		if err := store.CheckAfter("ExtendBy", p.Now, p.ExtendBy); err != nil {
			return nil, err
		}
	}
	if p.Progress != nil {
		if p.Progress.Percent < 0 || p.Progress.Percent > 100 {
			return nil, &store.FieldError{Index: -1, Field: "Progress", Reason: "must be between 0 and 100"}
		}
		if len(p.Progress.Message) > store.MaxProgressMessage {
			return nil, &store.FieldError{Index: -1, Field: "Progress.Message", Reason: fmt.Sprintf("must be at most %d bytes", store.MaxProgressMessage)}
		}
	}
	return submit(ctx, s, &heartbeatReq{p: p}, applied)
}

type heartbeatReq struct {
	reqBase[*store.Job]
	p *store.HeartbeatParams
}

func (r *heartbeatReq) apply(tx *txn) {
	id, ok := parseID(r.p.ID)
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
	if err := store.HeartbeatJob(&x.job, r.p); err != nil {
		r.err = err
		return
	}
	tx.save(x, r.p.Now)
	if r.p.Progress != nil || r.p.Checkpoint != nil {
		tx.change(x, true)
	}
	out := x.job
	r.res = &out
}
