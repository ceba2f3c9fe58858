package postgres

import (
	"context"
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
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.q.queues+` AS q (name, rate, per_second, burst) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET rate = $2, per_second = $3, burst = $4,
			tokens = CASE WHEN q.per_second IS NOT DISTINCT FROM $3 AND q.burst IS NOT DISTINCT FROM $4 THEN q.tokens END,
			tokens_at = CASE WHEN q.per_second IS NOT DISTINCT FROM $3 AND q.burst IS NOT DISTINCT FROM $4 THEN q.tokens_at END`,
		p.Queue, rate, perSecond, burst)
	return s.wrap("set limits", err)
}

// limitsOf returns the limits a queue row records, nil when none.
func limitsOf(rate pgtype.Text, burst pgtype.Int4) *store.Limits {
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
