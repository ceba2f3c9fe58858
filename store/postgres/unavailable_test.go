package postgres_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/postgres"
)

// TestUnavailable: when the database drops the store's connections and
// refuses new ones, calls fail with an error that is store.ErrUnavailable
// (so the HTTP layer answers 503); once it accepts connections
// again, calls succeed. The test works on a role of its own, so that only
// its own connections are dropped and refused.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	base := setup(t, nil) // creates and migrates the schema
	role := base.Schema()
	exec(t, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() { exec(t, `DROP OWNED BY `+role); exec(t, `DROP ROLE `+role) })
	exec(t, `GRANT USAGE ON SCHEMA `+role+` TO `+role)
	exec(t, `GRANT ALL ON ALL TABLES IN SCHEMA `+role+` TO `+role)

	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	s := open(t, u.String(), &postgres.Options{Schema: base.Schema()})
	ctx := t.Context()
	j := enqueue(t, s, newJobs(1)...)[0]

	exec(t, `ALTER ROLE `+role+` CONNECTION LIMIT 0`)
	exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
	_, err = s.Get(ctx, j.ID)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get while the database refuses connections: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping while the database refuses connections: %v, want ErrUnavailable", err)
	}

	exec(t, `ALTER ROLE `+role+` CONNECTION LIMIT -1`)
	if _, err := s.Get(ctx, j.ID); err != nil {
		t.Errorf("Get once the database accepts connections again: %v", err)
	}
	if _, err := s.Get(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get of an unknown id: %v, want ErrNotFound only", err)
	}
}

// TestOpenUnreachable: Open of a database that does not answer fails with
// store.ErrUnavailable.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", nil)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open of a closed port: %v, want ErrUnavailable", err)
	}
}

// TestDiskFull: when PostgreSQL reports disk_full (SQLSTATE 53100), the
// call fails with store.ErrInsufficientStorage, which the HTTP layer
// answers with 507. The database's own error is raised by a trigger on
// the test's schema, as a full disk raises it.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	schema := s.Schema()
	exec(t, `CREATE FUNCTION `+schema+`.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$`)
	exec(t, `CREATE TRIGGER disk_full BEFORE INSERT ON `+schema+`.jobs FOR EACH ROW EXECUTE FUNCTION `+schema+`.disk_full()`)
	_, err := s.Enqueue(t.Context(), &store.EnqueueParams{Jobs: newJobs(1), Now: time.Now()})
	if !errors.Is(err, store.ErrInsufficientStorage) {
		t.Errorf("Enqueue on a full disk: %v, want ErrInsufficientStorage", err)
	}
}
