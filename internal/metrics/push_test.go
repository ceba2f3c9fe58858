package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPushSeries(t *testing.T) {
	t.Parallel()
	m := New(&Config{DisableRuntime: true})
	p := m.Push(func() []PushStat { return []PushStat{{Target: "thumbnail", Limit: 12, InFlight: 5}} })
	p.Request("thumbnail", "succeeded", 20*time.Millisecond)
	p.Request("thumbnail", "overload", time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`gantry_push_concurrency_limit{target="thumbnail"} 12`,
		`gantry_push_in_flight{target="thumbnail"} 5`,
		`gantry_push_requests_total{outcome="succeeded",target="thumbnail"} 1`,
		`gantry_push_requests_total{outcome="overload",target="thumbnail"} 1`,
		`gantry_push_latency_seconds_count{target="thumbnail"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
}
