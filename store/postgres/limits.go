package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gantry-dev/gantry/store"
)

// SetLimits records the limits of a queue in its row of the queues table
// (migration 0005). A change of rate or burst starts the bucket full.
func (s *Store) SetLimits(ctx context.Context, p *store.SetLimitsParams) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := store.CheckSetLimits(p); err != nil {
		return err
	}
	var rate pgtype.Text
	var perSecond pgtype.Float8
	var burst pgtype.Int4
	if ps, b := p.Limits.Bucket(); ps > 0 {
		rate = pgtype.Text{String: p.Limits.Rate, Valid: true}
		perSecond = pgtype.Float8{Float64: ps, Valid: true}
		burst = pgtype.Int4{Int32: int32(b), Valid: true}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.q.queues+` AS q (name, rate, per_second, burst) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET rate = $2, per_second = $3, burst = $4,
				tokens = CASE WHEN q.per_second IS NOT DISTINCT FROM $3 AND q.burst IS NOT DISTINCT FROM $4 THEN q.tokens END,
				tokens_at = CASE WHEN q.per_second IS NOT DISTINCT FROM $3 AND q.burst IS NOT DISTINCT FROM $4 THEN q.tokens_at END`,
			p.Queue, rate, perSecond, burst); err != nil {
			return err
		}
		return s.setKeyLimits(ctx, tx, p.Queue, p.Limits)
	})
	s.forgetKeyed()
	return s.wrap("set limits", err)
}

// limitsOf returns the limits a queue row records, nil when none: the
// whole Limits (migration 0007), or the rate and burst of a row written
// before.
func limitsOf(raw []byte, rate pgtype.Text, burst pgtype.Int4) *store.Limits {
	if raw != nil {
		var l store.Limits
		if json.Unmarshal(raw, &l) == nil && !l.Zero() {
			return &l
		}
	}
	if !rate.Valid {
		return nil
	}
	return &store.Limits{Rate: rate.String, Burst: int(burst.Int32)}
}

// takeTokens, in a claim's batch before the claim, refills the queue's
// bucket to Now and locks its row until the claim commits, so that claims
// of a limited queue from every node take turns; it returns nothing for a
// queue without a rate. The claim then takes at most the whole tokens, and
// spends one a job it leases (claimSpend).
const takeTokens = `UPDATE {queues} SET
		tokens = least(burst, coalesce(tokens, burst) +
			per_second * greatest(0, extract(epoch FROM ($2::timestamptz - coalesce(tokens_at, $2::timestamptz))))),
		tokens_at = greatest(coalesce(tokens_at, $2::timestamptz), $2::timestamptz)
	WHERE name = $1 AND per_second IS NOT NULL
	RETURNING tokens, per_second`

// claimAllowed is the claim's LIMIT: p.Max ($4), or fewer whole tokens.
const claimAllowed = `least($4, coalesce((SELECT floor(tokens)::int FROM {queues} WHERE name = $1 AND per_second IS NOT NULL), $4))`

// claimSpend, a CTE of the claim after u (the leased jobs), spends their
// tokens.
const claimSpend = `spend AS (UPDATE {queues} SET tokens = tokens - (SELECT count(*) FROM u)
		WHERE name = $1 AND per_second IS NOT NULL)`

// bucket is what takeTokens returned: the tokens before the claim.
type bucket struct {
	tokens, perSecond float64
	ok                bool
}

// readBucket reads takeTokens' answer.
func readBucket(br pgx.BatchResults) (bucket, error) {
	var b bucket
	err := br.QueryRow().Scan(&b.tokens, &b.perSecond)
	if err == pgx.ErrNoRows {
		return bucket{}, nil
	}
	b.ok = err == nil
	return b, err
}

// rateWait is the claim's RateWait: how long until a token, when the
// bucket held the claim of claimed jobs below max.
func (b bucket) rateWait(max, claimed int) time.Duration {
	if !b.ok || int(b.tokens) >= max || claimed < int(b.tokens) {
		return 0
	}
	return store.TokenWait(b.tokens-float64(claimed), b.perSecond)
}

// TakeTokens gives back and takes tokens of a named bucket
// (store.TokenStore). The bucket is a row of the queues table named
// p.Bucket, with the columns of a queue's limits (migration 0005), so a
// push target's rate is the same bucket, refilled by the same arithmetic,
// as a queue's; the names start with '/', which no queue's does, and
// Queues does not list them. One transaction locks the row, so the
// bucket is one across every node.
func (s *Store) TakeTokens(ctx context.Context, p *store.TakeTokensParams) (*store.TakeTokensResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := store.CheckTakeTokens(p); err != nil {
		return nil, err
	}
	perSecond, burst := p.Limits.Bucket()
	now := pgTime(p.Now)
	res := &store.TakeTokensResult{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.q.queues+` AS q (name, rate, per_second, burst) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET rate = $2, per_second = $3, burst = $4,
				tokens = CASE WHEN q.per_second = $3 AND q.burst = $4 THEN q.tokens END,
				tokens_at = CASE WHEN q.per_second = $3 AND q.burst = $4 THEN q.tokens_at END
			WHERE q.per_second IS DISTINCT FROM $3 OR q.burst IS DISTINCT FROM $4`,
			p.Bucket, p.Limits.Rate, perSecond, burst); err != nil {
			return err
		}
		var left float64
		err := tx.QueryRow(ctx, s.q.sql(`UPDATE {queues} q SET
				tokens = x.t - least($3, floor(x.t)),
				tokens_at = greatest(coalesce(q.tokens_at, $2::timestamptz), $2::timestamptz)
			FROM (SELECT name, least(burst, coalesce(tokens + $4, burst) +
				per_second * greatest(0, extract(epoch FROM ($2::timestamptz - coalesce(tokens_at, $2::timestamptz))))) AS t
				FROM {queues} WHERE name = $1 FOR UPDATE) x
			WHERE q.name = x.name
			RETURNING least($3, floor(x.t))::int, q.tokens`),
			p.Bucket, now, p.Take, p.Give).Scan(&res.Took, &left)
		if err != nil {
			return err
		}
		if res.Took < p.Take {
			res.Wait = store.TokenWait(left, perSecond)
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("take tokens", err)
	}
	return res, nil
}
