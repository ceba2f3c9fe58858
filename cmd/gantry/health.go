package main

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

const healthHelp = `
Asks a running server whether it is alive (GET /healthz) or, with --ready,
whether it takes work (GET /readyz: the store answers and the server is not
draining). Exits 0 when the server answers 200, 1 otherwise, and prints the
answer. Neither endpoint needs a token.

This is the probe of the container image's HEALTHCHECK, which has no shell
and no curl: the gantry binary checks itself.`

// defaultHealthTimeout bounds a health probe: below the 10 s default of a
// Docker HEALTHCHECK's own timeout, so that the probe reports before Docker
// kills it.
const defaultHealthTimeout = 5 * time.Second

func runHealth(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "health", "", healthHelp)
	var cf clientFlags
	cf.register(e, fs)
	ready := fs.Bool("ready", false, "ask /readyz (takes work) instead of /healthz (alive)")
	timeout := fs.Duration("timeout", defaultHealthTimeout, "give up after this `duration`")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usageErrorf("--timeout %v must be positive", *timeout)
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	ctx, cancel := context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("%s did not answer within --timeout %v", path, *timeout))
	defer cancel()
	_, body, err := a.do(ctx, &request{method: "GET", path: path})
	if err != nil {
		// A 503 is the answer asked for, not a reason to retry later: exit 1.
		return &exitError{code: exitFailure, err: fmt.Errorf("%s: %w", path, err)}
	}
	if cf.json {
		_, err = e.stdout.Write(body)
		return err
	}
	fmt.Fprintf(e.stdout, "%s%s: %s\n", a.base, path, bytes.TrimSpace(body))
	return nil
}
