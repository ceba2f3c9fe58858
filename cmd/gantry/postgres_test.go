package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pgtest"
)

// postgresURL returns the URL of the test database, or skips the test
// without one (fails it when GANTRY_REQUIRE_PG=1).
func postgresURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("GANTRY_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("GANTRY_REQUIRE_PG") == "1" {
			t.Fatal("GANTRY_REQUIRE_PG=1 but GANTRY_TEST_POSTGRES_URL is not set")
		}
		t.Skip("set GANTRY_TEST_POSTGRES_URL=postgres://... to run the PostgreSQL tests")
	}
	return url
}

// The migrate commands and serve on PostgreSQL, in a schema of the test's
// own.
func TestPostgres(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	schema := pgtest.Schema(t, url, "gantry_cmd_")
	environ := map[string]string{"GANTRY_STORE": url, "GANTRY_SCHEMA": schema}
	mustRun := func(want int, args ...string) string {
		t.Helper()
		stdout, stderr, code := cliEnv(t, environ, args...)
		if code != want {
			t.Fatalf("gantry %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout + stderr
	}

	if out := mustRun(0, "migrate", "status"); !strings.Contains(out, "version:  0") || !strings.Contains(out, "pending:") {
		t.Errorf("status of a new schema:\n%s", out)
	}
	// serve refuses a schema that is not migrated, and names the command.
	if out := mustRun(exitCannotStart, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()); !strings.Contains(out, "gantry migrate up") {
		t.Errorf("serve on an unmigrated schema:\n%s", out)
	}
	if out := mustRun(0, "migrate", "up"); !strings.Contains(out, "version 0 -> ") {
		t.Errorf("migrate up:\n%s", out)
	}
	if out := mustRun(0, "migrate", "status"); strings.Contains(out, "pending:") {
		t.Errorf("status after up:\n%s", out)
	}

	p := startServe(t, environ)
	if line := p.logLine("gantry is serving"); line["store"] != config.RedactURL(url) {
		t.Errorf("store %v", line["store"])
	}
	out := p.mustCLI(0, "enqueue", "gantry.echo", "--args", `{"db":"postgres"}`, "--wait")
	if !strings.Contains(out, `{"db":"postgres"}`) {
		t.Errorf("enqueue --wait:\n%s", out)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}

	if out := mustRun(0, "migrate", "down", "--to", "0"); !strings.HasSuffix(strings.TrimSpace(out), "-> 0") {
		t.Errorf("migrate down:\n%s", out)
	}
	mustRun(exitUsage, "migrate", "up", "--to", "999")
}
