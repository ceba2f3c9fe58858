package push_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/internal/push"
	"github.com/gantry-dev/gantry/store/postgres"
)

// envPostgres names the database of the PostgreSQL tests.
const envPostgres = "GANTRY_TEST_POSTGRES_URL"

// Two nodes on one PostgreSQL database push the same target's jobs: every
// job is delivered and succeeds, and the pushed job ids are the enqueued
// ones.
func TestPushFromTwoNodesOnPostgres(t *testing.T) {
	url := os.Getenv(envPostgres)
	if url == "" {
		if os.Getenv(pgtest.EnvRequire) == "1" {
			t.Fatalf("%s=1 but %s is not set", pgtest.EnvRequire, envPostgres)
		}
		t.Skipf("set %s=postgres://... to run the PostgreSQL push test", envPostgres)
	}
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
		d, err := push.New(&push.Config{Client: c, Targets: []push.Target{{Name: "thumbnail", URL: srv.URL, Max: 4}}})
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
