package postgres_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-dev/gantry/store/postgres"
)

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := testURL(t)
	reachable(t, url)
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestMigrateUpDownStatus(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	schema := newSchema(t)
	ctx := t.Context()
	latest := postgres.LatestVersion()
	steps := len(postgres.Migrations())
	if steps != latest {
		t.Errorf("%d migrations up to version %d: the shipped sequence has a gap", steps, latest)
	}

	st, err := postgres.Status(ctx, pool, schema)
	if err != nil {
		t.Fatalf("Status of a missing schema: %v", err)
	}
	if st.Current != 0 || st.Latest != latest || len(st.Pending) != steps {
		t.Errorf("Status of a missing schema = current %d latest %d pending %d, want 0, %d, %d",
			st.Current, st.Latest, len(st.Pending), latest, steps)
	}

	_, err = postgres.Open(ctx, testURL(t), &postgres.Options{Schema: schema})
	if !errors.Is(err, postgres.ErrSchemaVersion) || !strings.Contains(err.Error(), "gantry migrate up") {
		t.Errorf("Open of an unmigrated schema: got %v, want ErrSchemaVersion naming `gantry migrate up`", err)
	}

	st, err = postgres.Migrate(ctx, pool, schema, latest)
	if err != nil {
		t.Fatalf("Migrate up: %v", err)
	}
	if st.Current != latest || len(st.Pending) != 0 || len(st.Applied) != steps {
		t.Errorf("after Migrate up: current %d, %d pending, %d applied; want %d, 0, %d",
			st.Current, len(st.Pending), len(st.Applied), latest, steps)
	}
	s := open(t, testURL(t), &postgres.Options{Schema: schema})
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping of a store on a migrated schema: %v", err)
	}
	s.Close()

	// Up again is a no-op.
	if st, err = postgres.Migrate(ctx, pool, schema, latest); err != nil || st.Current != latest {
		t.Errorf("second Migrate up: %+v, %v", st, err)
	}

	st, err = postgres.Migrate(ctx, pool, schema, 0)
	if err != nil {
		t.Fatalf("Migrate down: %v", err)
	}
	if st.Current != 0 || len(st.Pending) != steps {
		t.Errorf("after Migrate down: current %d, %d pending; want 0, %d", st.Current, len(st.Pending), steps)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename <> 'schema_version'`,
		schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("after Migrate down %d tables remain besides schema_version", n)
	}

	if _, err := postgres.Migrate(ctx, pool, schema, latest+1); err == nil {
		t.Errorf("Migrate to version %d (unknown): no error", latest+1)
	}
	if _, err := postgres.Migrate(ctx, pool, "Bad-Name", latest); err == nil {
		t.Errorf("Migrate of schema Bad-Name: no error")
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	schema := newSchema(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = postgres.Migrate(t.Context(), pool, schema, postgres.LatestVersion())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migration %d: %v", i, err)
		}
	}
	st, err := postgres.Status(t.Context(), pool, schema)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != postgres.LatestVersion() || len(st.Applied) != len(postgres.Migrations()) {
		t.Errorf("after 8 concurrent migrations: current %d with %d applied, want %d once each",
			st.Current, len(st.Applied), postgres.LatestVersion())
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	s := setup(t, nil)
	exec(t, `INSERT INTO `+s.Schema()+`.schema_version (version, name) VALUES ($1, 'future')`, postgres.LatestVersion()+1)
	for _, migrate := range []bool{false, true} {
		_, err := postgres.Open(t.Context(), testURL(t), &postgres.Options{Schema: s.Schema(), Migrate: migrate})
		if !errors.Is(err, postgres.ErrSchemaVersion) {
			t.Errorf("Open(Migrate %v) of a schema newer than the build: got %v, want ErrSchemaVersion", migrate, err)
		}
	}
}

func TestOptionsValidated(t *testing.T) {
	t.Parallel()
	for _, o := range []postgres.Options{
		{Schema: "1abc"},
		{Schema: "has space"},
		{Schema: strings.Repeat("s", postgres.MaxSchemaLen+1)},
		{MaxConns: -1},
		{CopyThreshold: -1},
	} {
		if _, err := postgres.Open(t.Context(), "postgres://127.0.0.1:1/none", &o); err == nil {
			t.Errorf("Open with %+v: no error", o)
		}
	}
}
