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
		"slow": {"rate": "3000/m"}, "plain": {"workers": 2}}}`)
	s, err := config.LoadServe([]string{"--config", file}, env())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]gantry.Limits{"email": {Rate: "50/s", Burst: 10}, "slow": {Rate: "3000/m"}}
	if got := s.Limits(); !reflect.DeepEqual(got, want) {
		t.Errorf("Limits() = %+v, want %+v", got, want)
	}
	for _, tc := range []struct{ file, want string }{
		{`{"queues": {"q": {"rate": "50"}}}`, `queues.q.rate: gantry: rate "50"`},
		{`{"queues": {"q": {"rate": "50/d"}}}`, `queues.q.rate`},
		{`{"queues": {"q": {"rate": "-1/s"}}}`, `queues.q.rate`},
		{`{"queues": {"q": {"burst": 3}}}`, `queues.q.burst needs a rate`},
		{`{"queues": {"q": {"rate": "1/s", "burst": -1}}}`, `queues.q.burst -1 must be between 0 and 1000000`},
		{`{"queues": {"q": {"rate": "1/s", "burst": 1000001}}}`, `queues.q.burst 1000001`},
		{`{"queues": {"q": {"rate": 5}}}`, `queues`},
	} {
		_, err := config.LoadServe([]string{"--config", writeFile(t, tc.file)}, env())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.file, err, tc.want)
		}
	}
}
