package gantry_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowedImports is the architecture of docs/architecture.md as a table:
// for each package of the module (by its path in the module, "." for the
// root), the packages of the module it may import. Every package must be
// here, so that a new one takes its place in the drawing deliberately.
var allowedImports = map[string][]string{
	// The public API: the client, typed handlers, the engine behind them.
	".": {"store", "internal/engine", "internal/cron", "internal/taskhook", "internal/tracing"},

	// Stores know jobs and payload descriptions, nothing of scheduling,
	// transport or each other.
	"store":           {"blob", "internal/diskfull", "internal/ratelimit"},
	"store/embedded":  {"store", "blob"},
	"store/postgres":  {"store", "blob"},
	"store/storetest": {"store", "blob"},

	// Blob stores know only the blob interface.
	"blob":           {"internal/diskfull"},
	"blob/fs":        {"blob", "internal/diskfull"},
	"blob/s3":        {"blob"},
	"blob/s3/s3test": {},
	"blob/blobtest":  {"blob"},

	// The engine knows the store seam and nothing above it.
	"internal/engine":   {"store"},
	"internal/cron":     {},
	"internal/taskhook": {},
	"internal/jsonkeys": {},
	"internal/pgtest":   {},
	// What a full disk looks like, for the stores and the blob stores.
	"internal/diskfull": {},
	// Small filesystems for the disk-full tests.
	"internal/tmpfs": {},
	// make test's reader of go test -json: the skip report.
	"internal/testreport": {},
	"internal/metrics":    {"store"},
	// OpenTelemetry spans: the store wrapper, attempts, pushes, HTTP.
	"internal/tracing": {"store"},

	// The HTTP API is store-agnostic: it works through the client.
	"httpapi": {".", "store", "blob", "internal/jsonkeys"},
	// The dashboard works through the API.
	"ui": {".", "httpapi", "store"},

	// Wiring: the one place that picks stores and builds a server.
	"internal/config":    {".", "store", "blob/s3", "httpapi", "internal/jsonkeys", "internal/push", "internal/ratelimit"},
	"internal/push":      {".", "store", "httpapi", "internal/ratelimit", "internal/tracing"},
	"internal/ratelimit": {},
	"internal/server": {".", "store", "store/embedded", "store/postgres", "blob", "blob/fs", "blob/s3",
		"httpapi", "internal/config", "internal/metrics", "internal/push", "internal/tracing", "ui"},
	"cmd/gantry": {".", "httpapi", "internal/config", "internal/server", "store/postgres"},

	"gantrytest": {".", "store", "store/embedded", "internal/taskhook"},

	// Benchmarks and examples; the binary links none of them.
	"bench/load":                  {},
	"bench/httpbench":             {"bench/load", "internal/config", "internal/server"},
	"examples/python-worker":      {},
	"examples/push-target-go":     {},
	"examples/push-target-python": {},
	"examples/thumbnails":         {".", "blob", "blob/fs", "store", "store/embedded"},
}

// forbiddenImports are packages outside the module that a layer must not
// use: the engine and the stores know no transport.
var forbiddenImports = map[string][]string{
	"internal/engine": {"net/http"},
	"store":           {"net/http"},
	"store/embedded":  {"net/http"},
	"store/postgres":  {"net/http"},
}

// TestImportRules checks every package's imports (not its tests') against
// allowedImports and forbiddenImports, as go list reports them.
func TestImportRules(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH; the import rules are checked where it is")
	}
	out, err := exec.Command(goTool, "list", "-json=ImportPath,Imports,Module", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/gantry-dev/gantry"
	rel := func(p string) (string, bool) {
		if p == module {
			return ".", true
		}
		r, ok := strings.CutPrefix(p, module+"/")
		return r, ok
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for {
		var pkg struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		name, ok := rel(pkg.ImportPath)
		if !ok {
			continue
		}
		seen[name] = true
		allowed, known := allowedImports[name]
		if !known {
			t.Errorf("package %s is not in allowedImports: give it its place in docs/architecture.md and in the table", name)
			continue
		}
		for _, imp := range pkg.Imports {
			if dep, inModule := rel(imp); inModule && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s, which the architecture does not allow (docs/architecture.md)", name, dep)
			}
			if slices.Contains(forbiddenImports[name], imp) {
				t.Errorf("%s imports %s: this layer knows no transport (docs/architecture.md)", name, imp)
			}
		}
	}
	for name := range allowedImports {
		if !seen[name] {
			t.Errorf("allowedImports names %s, which go list does not report: remove it from the table and docs/architecture.md", name)
		}
	}
}
