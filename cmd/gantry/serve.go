package main

import (
	"context"
	"errors"
	"flag"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

const serveHelp = `
Runs the job server: the HTTP API (/v1/...), /metrics, /healthz and /readyz.

Jobs are kept in the embedded store in --data-dir/jobs (or in PostgreSQL
with --store postgres://...), uploaded payloads in --data-dir/blobs (or in
an S3-compatible bucket with --blob s3://bucket/prefix, credentials from
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY). The
server runs the built-in kinds gantry.sleep ({"ms": N}) and gantry.echo
in-process; jobs of other kinds wait for external workers (POST
/v1/queues/{name}/lease) or for a Go program that embeds Gantry on the same
store.

Settings come from flags, then environment variables, then the JSON file
named by --config (or GANTRY_CONFIG), then the defaults. Every flag
--some-name is also GANTRY_SOME_NAME and the file key "some_name";
MAX_WORKERS and MAX_QUEUE are accepted for --workers and --max-pending. The
file may also configure queues:

  {"addr": "127.0.0.1:9000", "max_pending": 10000,
   "queues": {"images": {"workers": 4, "max_pending": 500}}}

Without tokens, the server refuses to listen on an address other hosts can
reach unless --allow-unauthenticated is given. /metrics, /healthz and
/readyz need no token.

On SIGINT or SIGTERM the server drains: /readyz and new requests answer 503
with Retry-After, the listener closes after --drain-delay, running jobs get
until --shutdown-timeout to finish (then they are cancelled and released to
run again on the next start). A second signal stops at once.

A server that cannot start exits 7: its data dir is in use by another
process (the embedded store is one process at a time), the address is
taken, or the store cannot be opened or reached.`

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", "", serveHelp)
	config.DefaultServe().Flags(fs)
	if err := checkFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadServe(args, e.getenv)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return gnuFlagError(err)
	}
	if err := cfg.CheckExposure(); err != nil {
		return &config.UsageError{Err: err}
	}
	log := server.NewLogger(e.stderr, cfg.LogFormat, cfg.LogLevel)
	s, err := server.Open(ctx, cfg, &server.Options{Logger: log, Version: version()})
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
