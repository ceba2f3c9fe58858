package embedded

import (
	"context"
	"sync"

	"github.com/gantry-dev/gantry/store"
)

// buckets are the named token buckets of store.TokenStore. They live in
// memory: one process has the data dir, so a bucket there is one for
// every user of the store, and it starts full at open, as a queue's does.
type buckets struct {
	mu sync.Mutex
	m  map[string]*namedBucket
}

type namedBucket struct {
	limits store.Limits
	tokens store.Tokens
}

// TakeTokens gives back and takes tokens of a named bucket
// (store.TokenStore).
func (s *Store) TakeTokens(ctx context.Context, p *store.TakeTokensParams) (*store.TakeTokensResult, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	s.readMu.RUnlock()
	if err := store.CheckTakeTokens(p); err != nil {
		return nil, err
	}
	bs := &s.buckets
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[p.Bucket]
	if b == nil || !b.limits.Equal(p.Limits) {
		if bs.m == nil {
			bs.m = map[string]*namedBucket{}
		}
		b = &namedBucket{limits: p.Limits}
		bs.m[p.Bucket] = b
	}
	b.tokens.Give(p.Limits, p.Give)
	res := &store.TakeTokensResult{Took: b.tokens.Take(p.Limits, p.Now, p.Take)}
	if res.Took < p.Take {
		res.Wait = b.tokens.Wait(p.Limits)
	}
	return res, nil
}
