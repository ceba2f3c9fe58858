package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/config"
)

func TestQueueLimits(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `{"queues": {"email": {"workers": 16, "rate": "50/s", "burst": 10},
		"slow": {"rate": "3000/m"}, "plain": {"workers": 2},
		"tenants": {"key": "args.customer_id", "per_key_concurrency": 2, "per_key_rate": "5/s", "per_key_burst": 3,
			"weights": {"acme": 3, "42": 2}},
		"ledger": {"rate": "10/s", "key": "args.account", "per_key_concurrency": 1, "order": "fifo"}}}`)
	s, err := config.LoadServe([]string{"--config", file}, env())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]gantry.Limits{
		"email": {Rate: "50/s", Burst: 10}, "slow": {Rate: "3000/m"},
		"tenants": {Key: "args.customer_id", PerKeyConcurrency: 2, PerKeyRate: "5/s", PerKeyBurst: 3,
			Weights: map[string]int{"acme": 3, "42": 2}},
		"ledger": {Rate: "10/s", Key: "args.account", PerKeyConcurrency: 1, Order: "fifo"},
	}
	if got := s.Limits(); !reflect.DeepEqual(got, want) {
		t.Errorf("Limits() = %+v, want %+v", got, want)
	}
	for _, tc := range []struct{ file, want string }{
		{`{"queues": {"q": {"rate": "50"}}}`, `queues.q.rate: must be N/s, N/m or N/h`},
		{`{"queues": {"q": {"rate": "50/d"}}}`, `queues.q.rate`},
		{`{"queues": {"q": {"rate": "-1/s"}}}`, `queues.q.rate`},
		{`{"queues": {"q": {"burst": 3}}}`, `queues.q.burst: needs rate`},
		{`{"queues": {"q": {"rate": "1/s", "burst": -1}}}`, `queues.q.burst: must be between 0 and 1000000`},
		{`{"queues": {"q": {"rate": "1/s", "burst": 1000001}}}`, `queues.q.burst: must be between`},
		{`{"queues": {"q": {"rate": 5}}}`, `queues`},
		{`{"queues": {"q": {"key": "customer"}}}`, `queues.q.key: must be "kind", "queue" or "args.FIELD[.FIELD...]"`},
		{`{"queues": {"q": {"key": "args."}}}`, `queues.q.key: must have field names`},
		{`{"queues": {"q": {"per_key_concurrency": 2}}}`, `queues.q.key: must be set with per-key limits, weights or order`},
		{`{"queues": {"q": {"weights": {"a": 2}}}}`, `queues.q.key: must be set`},
		{`{"queues": {"q": {"key": "kind", "per_key_concurrency": -1}}}`, `queues.q.per_key_concurrency: must not be negative`},
		{`{"queues": {"q": {"key": "kind", "per_key_rate": "many"}}}`, `queues.q.per_key_rate: must be N/s`},
		{`{"queues": {"q": {"key": "kind", "per_key_burst": 4}}}`, `queues.q.per_key_burst: needs per_key_rate`},
		{`{"queues": {"q": {"key": "kind", "weights": {"a": 0}}}}`, `queues.q.weights: weight of key "a" must be between 1 and 1000`},
		{`{"queues": {"q": {"key": "kind", "weights": {"a": "3"}}}}`, `queues`},
		{`{"queues": {"q": {"key": "kind", "order": "lifo"}}}`, `queues.q.order: must be "" or "fifo"`},
		{`{"queues": {"q": {"key": "kind", "order": "fifo"}}}`, `queues.q.per_key_concurrency: must be 1 with order "fifo"`},
		{`{"queues": {"q": {"key": "kind", "perKeyRate": "1/s"}}}`, `perKeyRate`},
	} {
		_, err := config.LoadServe([]string{"--config", writeFile(t, tc.file)}, env())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.file, err, tc.want)
		}
	}
}
