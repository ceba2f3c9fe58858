package push

import (
	"context"
	"log/slog"
	"time"

	"github.com/gantry-dev/gantry/internal/ratelimit"
	"github.com/gantry-dev/gantry/store"
)

// tokens is a target's rate: Wait takes between 1 and n tokens, waiting
// for the first.
type tokens interface {
	Wait(ctx context.Context, n int) (int, error)
}

// BucketName is the name of target's token bucket in a store.TokenStore.
func BucketName(target string) string { return "/push/" + target }

// newTokens returns the rate of t: a bucket in the store when it has
// store.TokenStore, so that every node on the store shares it (one rate
// across PostgreSQL nodes, the same bucket as a queue's limits), or one
// in this process otherwise.
func newTokens(t Target, burst int, st store.Driver, now func() time.Time, log *slog.Logger) tokens {
	if ts, ok := store.As[store.TokenStore](st); ok {
		return &storeTokens{ts: ts, now: now, log: log, target: t.Name,
			p: store.TakeTokensParams{Bucket: BucketName(t.Name), Limits: store.Limits{Rate: t.Rate.String(), Burst: burst}}}
	}
	return ratelimit.NewBucket(*t.Rate, burst, now)
}

// storeTokens is a target's bucket in the store.
type storeTokens struct {
	ts     store.TokenStore
	p      store.TakeTokensParams
	now    func() time.Time
	log    *slog.Logger
	target string
}

func (s *storeTokens) Wait(ctx context.Context, n int) (int, error) {
	for {
		p := s.p
		p.Take, p.Now = n, s.now()
		res, err := s.ts.TakeTokens(ctx, &p)
		wait := errorPause
		switch {
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case err != nil:
			s.log.Warn("push: taking rate tokens failed", slog.String("target", s.target), slog.Any("error", err))
		case res.Took > 0:
			return res.Took, nil
		default:
			wait = max(res.Wait, time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
	}
}
