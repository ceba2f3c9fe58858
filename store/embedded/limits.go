package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// Queue limits (store.LimitStore) are kept in table 'n', one record a
// queue: n <queue> -> the store.Limits as JSON. The token bucket of a
// queue's rate lives in memory only: one process claims from the data dir,
// and a restart starts it full (at most Burst claims more than the rate).

// SetLimits records the limits of a queue, durably.
func (s *Store) SetLimits(ctx context.Context, p *store.SetLimitsParams) error {
	if err := store.CheckSetLimits(p); err != nil {
		return err
	}
	_, err := submit(ctx, s, &limitsReq{p: p}, durable)
	return err
}

type limitsReq struct {
	reqBase[struct{}]
	p *store.SetLimitsParams
}

func (r *limitsReq) apply(tx *txn) {
	p := r.p
	q := tx.m.queue(p.Queue)
	q.settings = true
	k := strKey(tLimits, p.Queue)
	if p.Limits.Zero() {
		tx.del(k)
	} else {
		v, err := json.Marshal(p.Limits)
		if err != nil {
			tx.fail(err)
			r.err = err
			return
		}
		tx.set(k, v)
	}
	if !q.limits.Equal(p.Limits) {
		q.tokens = store.Tokens{} // full at the next claim
	}
	old := q.limits
	q.limits = p.Limits
	tx.rekey(q, old)
}

// loadLimits reads table 'n' into m at open.
func loadLimits(db pebble.Reader, m *memory) error {
	return scan(db, []byte{tLimits}, func(k, v []byte) error {
		var l store.Limits
		if err := json.Unmarshal(v, &l); err != nil || l.Validate() != nil {
			return fmt.Errorf("bad limits record %q", k)
		}
		q := m.queue(string(k[1:]))
		q.settings = true
		q.limits = l
		return nil
	})
}

// claimLimit is how many of p.Max jobs a claim of q may take at p.Now
// under its rate: it takes that many tokens, and settleLimit gives back
// those the claim did not use.
func (q *queueMem) claimLimit(p *store.ClaimParams) int {
	return q.tokens.Take(q.limits, p.Now, p.Max)
}

// settleLimit gives back the tokens of a claim that took fewer jobs than
// allowed, and returns the claim's RateWait: how long until a token, when
// the rate held it below p.Max.
func (q *queueMem) settleLimit(p *store.ClaimParams, allowed, claimed int) time.Duration {
	q.tokens.N += float64(allowed - claimed)
	if allowed < p.Max && claimed == allowed {
		return q.tokens.Wait(q.limits)
	}
	return 0
}

// limitsOf returns q's limits for QueueInfo, nil when it has none.
func (q *queueMem) limitsOf() *store.Limits {
	if q.limits.Zero() {
		return nil
	}
	l := q.limits
	return &l
}

// LimitStats reports how the limits of a queue hold its jobs back
// (store.LimitStatsStore), from memory: it reads no job.
func (s *Store) LimitStats(ctx context.Context, p *store.LimitStatsParams) (*store.LimitStats, error) {
	return submit(ctx, s, &limitStatsReq{p: p}, applied)
}

type limitStatsReq struct {
	reqBase[*store.LimitStats]
	p *store.LimitStatsParams
}

func (r *limitStatsReq) apply(tx *txn) {
	r.res = tx.m.queues[r.p.Queue].limitStats(r.p.Now, r.p.MaxKeys)
}
