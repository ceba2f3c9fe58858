package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/internal/pgtest"
)

// The chaos runs. Their size comes from the environment: the defaults are
// the short version that `make test` runs; `make chaos` sets
// GANTRY_CHAOS_JOBS=50000 and GANTRY_CHAOS_KILLS=20. GANTRY_CHAOS_OUT
// names a directory to keep the histories and server logs in.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	}))
}

var (
	buildOnce sync.Once
	binDir    string
	binary    string
	buildErr  error
)

// gantryBinary builds cmd/gantry once for the tests that run it.
func gantryBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "gantry-chaos"); buildErr != nil {
			return
		}
		binary = filepath.Join(binDir, "gantry")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/gantry-dev/gantry/cmd/gantry").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building gantry: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// outDir is where a run keeps its history and logs.
func outDir(t *testing.T, name string) string {
	t.Helper()
	if d := os.Getenv("GANTRY_CHAOS_OUT"); d != "" {
		d = filepath.Join(d, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// baseEnv is the test's environment without Gantry settings.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "GANTRY_") && k != "MAX_WORKERS" && k != "MAX_QUEUE" {
			out = append(out, kv)
		}
	}
	return out
}

// chaosRun starts nodes, runs the loop with kills, and fails the test on
// a broken promise.
func chaosRun(t *testing.T, name string, nodes []*Node, sup *Supervisor, jobs int) {
	t.Helper()
	dir := outDir(t, name)
	f, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := NewHistory(f)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Minute)
	defer cancel()
	for _, n := range nodes {
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Stop(30 * time.Second) })
	}
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.URL()
	}
	sup.Nodes, sup.History = nodes, h
	began := time.Now()
	v, err := Run(ctx, Config{URLs: func() []string { return urls }, Jobs: jobs, History: h}, sup)
	t.Logf("%s: %d jobs, %d kills in %v; history in %s\n%s", name, jobs, sup.Kills, time.Since(began).Round(time.Second), f.Name(), v)
	if err != nil {
		t.Error(err)
	}
	if !v.OK() {
		t.Errorf("the chaos run breaks a promise:\n%s", v)
	}
	if v.Workflows == 0 {
		t.Error("no workflow was acknowledged: the run did not exercise the stores' dependency cascades")
	}
	if v.Kills < sup.Kills {
		t.Errorf("%d kills, want %d", v.Kills, sup.Kills)
	}
}

// TestChaosEmbedded: one node on the embedded store, killed at random
// moments.
func TestChaosEmbedded(t *testing.T) {
	bin := gantryBinary(t)
	dir := outDir(t, "embedded")
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	n, err := NewNode(bin, baseEnv(), logf, "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--log-format", "json", "--drain-delay", "0s", "--workers", "2")
	if err != nil {
		t.Fatal(err)
	}
	kills := envInt(t, "GANTRY_CHAOS_KILLS", 6)
	chaosRun(t, "embedded", []*Node{n}, &Supervisor{Kills: kills}, envInt(t, "GANTRY_CHAOS_JOBS", 3000))
}

// TestChaosPostgres: three nodes on a private PostgreSQL, killed at random
// moments, one of them kept down for a while, and the database restarted
// once in immediate mode (a crash: it recovers from its WAL).
func TestChaosPostgres(t *testing.T) {
	bin := gantryBinary(t)
	pg := pgtest.Start(t)
	url := pg.URL("postgres")
	dir := outDir(t, "postgres")
	env := append(baseEnv(), "GANTRY_STORE="+url)
	mig := exec.Command(bin, "migrate", "up")
	mig.Env = env
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	var nodes []*Node
	for i := range 3 {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("serve-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		n, err := NewNode(bin, env, logf, "--data-dir", filepath.Join(t.TempDir(), "data"),
			"--log-format", "json", "--drain-delay", "0s", "--workers", "2")
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	sup := &Supervisor{
		Kills:    envInt(t, "GANTRY_CHAOS_KILLS", 6),
		HoldDown: 3 * time.Second,
		DBRestart: func() error {
			if err := pg.Stop("immediate"); err != nil {
				return err
			}
			time.Sleep(2 * time.Second) // down long enough for the nodes to notice
			return pg.Start()
		},
	}
	chaosRun(t, "postgres", nodes, sup, envInt(t, "GANTRY_CHAOS_JOBS", 3000))
}
