package push_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/internal/push"
	"github.com/gantry-dev/gantry/internal/ratelimit"
	"github.com/gantry-dev/gantry/store/postgres"
)

// envPostgres names the database of the PostgreSQL tests.
const envPostgres = "GANTRY_TEST_POSTGRES_URL"

// Two nodes on one PostgreSQL database push the same target's jobs: every
// job is delivered and succeeds, and the pushed job ids are the enqueued
// ones.
func TestPushFromTwoNodesOnPostgres(t *testing.T) {
	url := pgURL(t)
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen[r.Header.Get(push.JobIDHeader)]++
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	clients := pgNodes(t, url, func(int) push.Target { return push.Target{Name: "thumbnail", URL: srv.URL, Max: 4} })
	e := &pushEnv{c: clients[0]}
	var ids []string
	for i := range 40 {
		ids = append(ids, e.enqueue(t, thumb{N: i}, nil).ID)
	}
	for _, id := range ids {
		if j := e.waitFor(t, id, final); j.State != gantry.StateSucceeded || j.Attempt != 1 {
			t.Errorf("job %s: %s in attempt %d", id, j.State, j.Attempt)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("job %s was pushed %d times", id, seen[id])
		}
	}
}

// pgURL returns the test database's URL, or skips the test.
func pgURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv(envPostgres)
	if url == "" {
		if os.Getenv(pgtest.EnvRequire) == "1" {
			t.Fatalf("%s=1 but %s is not set", pgtest.EnvRequire, envPostgres)
		}
		t.Skipf("set %s=postgres://... to run the PostgreSQL push test", envPostgres)
	}
	return url
}

// pgNodes starts two nodes on one new schema of the database at url, each
// a client with a dispatcher pushing target(node), stopped at cleanup.
func pgNodes(t *testing.T, url string, target func(node int) push.Target) []*gantry.Client {
	t.Helper()
	schema := pgtest.Schema(t, url, "gantry_push_")
	var clients []*gantry.Client
	for i := range 2 {
		st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema, Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		c, err := gantry.NewClient(st, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := push.New(&push.Config{Client: c, Targets: []push.Target{target(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := d.Stop(ctx); err != nil {
				t.Errorf("node %d: stop dispatcher: %v", i, err)
			}
			_ = c.Stop(ctx)
			st.Close()
		})
		clients = append(clients, c)
	}
	return clients
}

// Two nodes on one PostgreSQL database push one target with a rate of
// 20/s: together they start no more requests than one bucket of 20/s
// (burst 20) allows, where a bucket per node would allow twice as many,
// and both nodes push.
func TestRateAcrossTwoNodesOnPostgres(t *testing.T) {
	url := pgURL(t)
	t.Parallel()
	const perSecond, jobs = 20, 80
	var mu sync.Mutex
	var starts []time.Time
	byNode := map[string]int{}
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		starts = append(starts, time.Now())
		byNode[r.URL.Query().Get("node")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	rate, err := ratelimit.Parse("20/s")
	if err != nil {
		t.Fatal(err)
	}
	clients := pgNodes(t, url, func(i int) push.Target {
		return push.Target{Name: "thumbnail", URL: srv.URL + "?node=" + strconv.Itoa(i), Max: 16, Rate: &rate}
	})
	e := &pushEnv{c: clients[0]}
	var ids []string
	for i := range jobs {
		ids = append(ids, e.enqueue(t, thumb{N: i}, nil).ID)
	}
	for _, id := range ids {
		if j := e.waitFor(t, id, final); j.State != gantry.StateSucceeded {
			t.Errorf("job %s: %s", id, j.State)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != jobs {
		t.Fatalf("%d requests, want %d", len(starts), jobs)
	}
	slices.SortFunc(starts, time.Time.Compare)
	first := starts[0]
	for i, s := range starts {
		// One bucket: a burst of 20, then 20 a second, and 3 of slack (150
		// ms) for the time between a token and the request's arrival, which
		// varies on a loaded machine. A bucket per node allows 40 at once.
		if allowed := perSecond + perSecond*s.Sub(first).Seconds() + 3; float64(i+1) > allowed {
			t.Fatalf("request %d started %v after the first: more than one bucket of %d/s allows", i+1, s.Sub(first), perSecond)
		}
	}
	// (80-20)/20 = 3 s with one bucket; a bucket per node would take 1 s.
	if d := starts[jobs-1].Sub(first); d < 2700*time.Millisecond {
		t.Errorf("%d requests at %d/s with a burst of %d took %v from two nodes, want at least 3 s", jobs, perSecond, perSecond, d)
	}
	if byNode["0"] == 0 || byNode["1"] == 0 {
		t.Errorf("requests by node: %v, want both nodes pushing", byNode)
	}
}
