package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// testTokens: a named bucket (store.TokenStore) starts full at its burst,
// refills at its rate, takes back what is given up to the burst, restarts
// full when its limits change, rejects bad parameters, and is not a queue.
func testTokens(t *testing.T, open opener) {
	t.Run("Bucket", func(t *testing.T) { testBucket(t, open) })
}

func testBucket(t *testing.T, open opener) {
	h := setup(t, open)
	ts, ok := store.As[store.TokenStore](h.d)
	if !ok {
		t.Skip("the driver has no store.TokenStore")
	}
	l := store.Limits{Rate: "10/s", Burst: 5}
	take := func(give, n int) *store.TakeTokensResult {
		t.Helper()
		res, err := ts.TakeTokens(h.ctx, &store.TakeTokensParams{Bucket: "/push.a", Limits: l, Give: give, Take: n, Now: h.now})
		if err != nil {
			t.Fatalf("TakeTokens(give %d, take %d) at %s: %v", give, n, h.at(), err)
		}
		return res
	}
	if r := take(0, 3); r.Took != 3 || r.Wait != 0 {
		t.Errorf("the first take of 3 from a new bucket of burst 5: took %d, wait %s; want 3, 0", r.Took, r.Wait)
	}
	if r := take(0, 3); r.Took != 2 || r.Wait != 100*time.Millisecond {
		t.Errorf("a take of 3 with 2 left: took %d, wait %s; want 2 and 100ms to the next token", r.Took, r.Wait)
	}
	h.advance(250 * time.Millisecond)
	if r := take(0, 5); r.Took != 2 || r.Wait != 50*time.Millisecond {
		t.Errorf("a take of 5 after 250ms at 10/s: took %d, wait %s; want 2, 50ms", r.Took, r.Wait)
	}
	if r := take(10, 0); r.Took != 0 {
		t.Errorf("a give of 10: took %d, want 0", r.Took)
	}
	if r := take(0, 10); r.Took != 5 {
		t.Errorf("a take after giving back more than the burst: took %d, want the burst, 5", r.Took)
	}
	l = store.Limits{Rate: "1/s", Burst: 2}
	if r := take(0, 3); r.Took != 2 || r.Wait != time.Second {
		t.Errorf("a take after the limits changed: took %d, wait %s; want the new burst, 2, and 1s", r.Took, r.Wait)
	}
	for _, p := range []store.TakeTokensParams{
		{Bucket: "push.a", Limits: l, Take: 1},
		{Bucket: "/", Limits: l, Take: 1},
		{Bucket: "/a", Take: 1},
		{Bucket: "/a", Limits: l, Take: -1},
	} {
		p.Now = h.now
		var fe *store.FieldError
		if _, err := ts.TakeTokens(h.ctx, &p); !errors.As(err, &fe) {
			t.Errorf("TakeTokens(%+v) = %v, want a *store.FieldError", p, err)
		}
	}
	if _, ok := h.queues()["/push.a"]; ok {
		t.Errorf("Queues lists the bucket /push.a")
	}
}
