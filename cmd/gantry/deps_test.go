package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// benchOnly are the packages that only the HTTP benchmark (bench/httpbench)
// needs: the shipped binary must not link them. Pebble imports
// runtime/pprof itself, so that one may stay; the OpenTelemetry SDK
// (trace export, docs/decisions/0020-tracing.md) imports runtime/trace,
// so that one is no longer on the list.
var benchOnly = []string{
	"github.com/HdrHistogram/hdrhistogram-go",
	"github.com/gantry-dev/gantry/bench/load",
}

func TestNoBenchmarkInBinary(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not on PATH (%v): cannot list the dependencies of cmd/gantry", err)
	}
	cmd := exec.Command(gobin, "list", "-deps", ".")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr.String())
	}
	deps := strings.Fields(string(out))
	for _, p := range benchOnly {
		if slices.Contains(deps, p) {
			t.Errorf("cmd/gantry links %s, which only the benchmark needs", p)
		}
	}
}
