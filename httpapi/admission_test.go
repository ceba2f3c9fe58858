package httpapi_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

func TestBackpressure(t *testing.T) {
	e := setup(t, &options{cfg: func(c *httpapi.Config) {
		c.MaxPending = 2
		c.MaxPendingPerQueue = map[string]int{"unlimited": 0, "small": 1}
		c.AdmissionRefresh = time.Nanosecond // every request reads the counts
	}})
	post := func(body string) *response {
		return e.do(req{method: "POST", path: "/v1/jobs", body: body})
	}
	full := func(resp *response, queue string, limit, pending int64, retryAfter string) {
		t.Helper()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429: %s", resp.StatusCode, resp.body)
		}
		p := resp.problem(t)
		if p.Code != httpapi.CodeQueueFull || p.Queue != queue || p.Limit == nil || *p.Limit != limit || p.Pending == nil || *p.Pending != pending {
			t.Errorf("problem = %+v", p)
		}
		got := resp.Header.Get("Retry-After")
		if secs, err := strconv.Atoi(got); err != nil || secs < 1 || secs > 60 || strconv.Itoa(p.RetryAfter) != got {
			t.Errorf("Retry-After = %q (problem says %d)", got, p.RetryAfter)
		}
		if retryAfter != "" && got != retryAfter {
			t.Errorf("Retry-After = %s, want %s", got, retryAfter)
		}
	}

	e.enqueue(`{"kind":"k"}`)
	e.enqueue(`{"kind":"k"}`)
	// The drain rate is not known yet: 5 seconds.
	full(post(`{"kind":"k"}`), "default", 2, 2, "5")
	full(e.do(req{method: "POST", path: "/v1/jobs/batch", body: `{"jobs":[{"kind":"k","queue":"other"},{"kind":"k"}]}`}), "default", 2, 2, "")
	// Other queues have their own room; the batch above created nothing.
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs/batch", body: `{"jobs":[{"kind":"k","queue":"other"},{"kind":"k","queue":"other"}]}`})
	full(e.do(req{method: "POST", path: "/v1/jobs/batch", body: `{"jobs":[{"kind":"k","queue":"other"}]}`}), "other", 2, 2, "")
	// A batch that could never fit is not asked to wait.
	p := e.expect(422, req{method: "POST", path: "/v1/jobs/batch", body: `{"jobs":[{"kind":"k","queue":"fresh"},{"kind":"k","queue":"fresh"},{"kind":"k","queue":"fresh"}]}`}).problem(t)
	if p.Field != "jobs" || p.Queue != "fresh" || p.Limit == nil || *p.Limit != 2 {
		t.Errorf("batch over the limit: %+v", p)
	}
	for range 3 {
		e.enqueue(`{"kind":"k","queue":"unlimited"}`)
	}
	e.enqueue(`{"kind":"k","queue":"small"}`)
	full(post(`{"kind":"k","queue":"small"}`), "small", 1, 1, "")
	// A duplicate takes no room.
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k","queue":"unlimited","unique_key":"u"}`})

	// The queue drains: two jobs finish, three seconds later there is room,
	// and the drain rate (2 jobs in about 3s) sets Retry-After.
	for range 2 {
		l := e.leaseOne()
		e.expect(http.StatusOK, req{method: "POST", path: "/v1/jobs/" + l.ID + "/complete", body: map[string]any{"lease_token": l.LeaseToken}})
	}
	e.clock.Advance(3 * time.Second)
	e.enqueue(`{"kind":"k"}`)
	e.enqueue(`{"kind":"k"}`)
	// One job over: 1 / (2/3 per second) = 1.5s, rounded up.
	full(post(`{"kind":"k"}`), "default", 2, 2, "2")

	var ql httpapi.QueueList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/queues"}).decode(t, &ql)
	for _, q := range ql.Queues {
		if q.Name == "default" && (q.DrainRate == nil || *q.DrainRate <= 0 || q.Limits.MaxPending == nil || *q.Limits.MaxPending != 2) {
			t.Errorf("default queue = %+v", q)
		}
		if q.Name == "unlimited" && q.Limits.MaxPending != nil {
			t.Errorf("unlimited queue has a limit: %+v", q.Limits)
		}
	}
}

func TestAdmissionWithCachedCounts(t *testing.T) {
	// With the default refresh, the counts come from one snapshot plus the
	// jobs admitted since: the limit holds between refreshes.
	var mu sync.Mutex
	var rejects []string
	e := setup(t, &options{cfg: func(c *httpapi.Config) {
		c.MaxPending = 3
		c.MaxPendingPerQueue = map[string]int{"one": 1}
		c.AdmissionRefresh = time.Hour
		c.OnReject = func(reason string) {
			mu.Lock()
			rejects = append(rejects, reason)
			mu.Unlock()
		}
	}})
	for range 3 {
		e.enqueue(`{"kind":"k"}`)
	}
	e.expect(http.StatusTooManyRequests, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k"}`})
	e.expect(http.StatusTooManyRequests, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k"}`})
	mu.Lock()
	if len(rejects) != 2 || rejects[0] != httpapi.CodeQueueFull {
		t.Errorf("OnReject saw %v", rejects)
	}
	mu.Unlock()
	// An enqueue that fails gives its room back.
	e.expect(422, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k","queue":"one","max_attempts":5000}`})
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k","queue":"one"}`})
	e.expect(http.StatusTooManyRequests, req{method: "POST", path: "/v1/jobs", body: `{"kind":"k","queue":"one"}`})
}
