package main

import (
	"bytes"
	"context"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runInProcess runs httpbench with args in this process, with the given
// environment, and returns its output and exit code.
func runInProcess(t *testing.T, environ map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		getenv: func(k string) string { return environ[k] },
		stdout: &out,
		stderr: &errOut,
	}
	code = run(context.Background(), args, e)
	return out.String(), errOut.String(), code
}
