package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

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
	url := testURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "gantry_test_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

// setup opens a store on a fresh, migrated schema and closes it when the
// test ends. A database that cannot be reached fails the test when
// GANTRY_REQUIRE_PG=1 and skips it otherwise.
func setup(tb testing.TB, opts *postgres.Options) *postgres.Store {
	tb.Helper()
	url := testURL(tb)
	schema := newSchema(tb)
	o := postgres.Options{}
	if opts != nil {
		o = *opts
	}
	o.Schema = schema
	o.Migrate = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url, &o)
	if err != nil {
		if os.Getenv("GANTRY_REQUIRE_PG") != "1" && !isSchemaError(err) {
			tb.Skipf("PostgreSQL at GANTRY_TEST_POSTGRES_URL is not reachable: %v", err)
		}
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func isSchemaError(err error) bool {
	return err != nil && (len(err.Error()) > 0 && contains(err.Error(), "migrate"))
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
