package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store/postgres"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testURL returns the database to test against, from
// GANTRY_TEST_POSTGRES_URL. Without it the test is skipped, unless
// GANTRY_REQUIRE_PG=1, when it fails.
func testURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("GANTRY_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("GANTRY_REQUIRE_PG") == "1" {
			tb.Fatal("GANTRY_REQUIRE_PG=1 but GANTRY_TEST_POSTGRES_URL is not set")
		}
		tb.Skip("set GANTRY_TEST_POSTGRES_URL=postgres://... to run the PostgreSQL tests")
	}
	return url
}

// newSchema returns a schema name no other test uses, and drops the schema
// when the test ends.
func newSchema(tb testing.TB) string {
	tb.Helper()
	return pgtest.Schema(tb, testURL(tb), "gantry_test_")
}

// setup opens a store on a fresh, migrated schema and closes it when the
// test ends. A database that cannot be reached skips the test, or fails it
// when GANTRY_REQUIRE_PG=1.
func setup(tb testing.TB, opts *postgres.Options) *postgres.Store {
	tb.Helper()
	url := testURL(tb)
	reachable(tb, url)
	o := postgres.Options{}
	if opts != nil {
		o = *opts
	}
	o.Schema = newSchema(tb)
	o.Migrate = true
	return open(tb, url, &o)
}

// open opens a store with opts and closes it when the test ends.
func open(tb testing.TB, url string, opts *postgres.Options) *postgres.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// reachable skips the test, or fails it when GANTRY_REQUIRE_PG=1, unless
// the database at url answers.
func reachable(tb testing.TB, url string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		if os.Getenv("GANTRY_REQUIRE_PG") == "1" {
			tb.Fatalf("GANTRY_REQUIRE_PG=1 but PostgreSQL at GANTRY_TEST_POSTGRES_URL is not reachable: %v", err)
		}
		tb.Skipf("PostgreSQL at GANTRY_TEST_POSTGRES_URL is not reachable: %v", err)
	}
}

// exec runs sql on a connection of its own.
func exec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
