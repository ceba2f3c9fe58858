package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob"
	blobfs "github.com/gantry-dev/gantry/blob/fs"
	blobs3 "github.com/gantry-dev/gantry/blob/s3"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/metrics"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
	"github.com/gantry-dev/gantry/store/postgres"
)

// Timeouts of the HTTP server. The API extends or lifts them per request
// where it must: long-polls, event streams and downloads set their own
// write deadlines, and uploads lift the read deadline. There is no
// server-wide WriteTimeout: its clock starts when a request's headers are
// read, so it would cut off the answer to any upload that takes longer.
const (
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds reading a request with its (JSON) body.
	readTimeout    = time.Minute
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10
	// openTimeout bounds opening a PostgreSQL store or an S3 bucket.
	openTimeout = 30 * time.Second
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
run again on the next start). A second signal stops at once.`

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", "", serveHelp)
	config.DefaultServe().Flags(fs)
	cfg, err := config.LoadServe(args, e.getenv)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return err
	}
	if err := cfg.CheckExposure(); err != nil {
		return &config.UsageError{Err: err}
	}
	log := newLogger(e.stderr, cfg.LogFormat, cfg.LogLevel)
	s, err := openServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	return s.run(ctx)
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// server is a running `gantry serve`: everything it opened, closed in
// reverse order.
type server struct {
	cfg     *config.Serve
	log     *slog.Logger
	store   store.Driver
	blobs   blobStore
	metrics *metrics.Metrics
	client  *gantry.Client
	api     *httpapi.Server
	http    *http.Server
	ln      net.Listener
	serving bool // http.Serve owns ln
}

// openServer opens the stores, builds the client and the API and listens,
// or undoes what it did and fails.
func openServer(ctx context.Context, cfg *config.Serve, log *slog.Logger) (_ *server, err error) {
	s := &server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if s.store, err = openStore(ctx, cfg, log); err != nil {
		return nil, err
	}
	if s.blobs, err = openBlobs(ctx, cfg, log); err != nil {
		return nil, err
	}
	s.metrics = metrics.New(&metrics.Config{Queues: s.store, Logger: log})

	reg := gantry.NewRegistry()
	if cfg.Demo {
		registerDemo(reg)
	}
	queues := map[string]gantry.QueueConfig{gantry.DefaultQueue: {Workers: cfg.Workers}}
	limits := map[string]int{}
	for name, q := range cfg.Queues {
		if q.Workers > 0 && name != gantry.DefaultQueue {
			queues[name] = gantry.QueueConfig{Workers: q.Workers}
		}
		if q.MaxPending > 0 {
			limits[name] = q.MaxPending
		}
	}
	s.client, err = gantry.NewClient(metrics.InstrumentStore(s.store, s.metrics), &gantry.Config{
		Registry: reg,
		Queues:   queues,
		Logger:   log,
		Hooks:    gantry.Hooks{Started: s.metrics.JobStarted, Finished: s.metrics.JobFinished},
		OnPrune:  s.deleteBlobs,
	})
	if err != nil {
		return nil, err
	}
	tokens := make([]httpapi.Token, 0, len(cfg.Tokens))
	for _, t := range cfg.Tokens {
		tok := httpapi.Token{Value: t.Value}
		for _, sc := range t.Scopes {
			tok.Scopes = append(tok.Scopes, httpapi.Scope(sc))
		}
		tokens = append(tokens, tok)
	}
	s.api, err = httpapi.New(&httpapi.Config{
		Client:             s.client,
		Blobs:              s.blobs,
		Tokens:             tokens,
		MaxPending:         cfg.MaxPending,
		MaxPendingPerQueue: limits,
		MaxJSONBody:        int64(cfg.MaxJSONBytes),
		MaxBlobBody:        int64(cfg.MaxBlobBytes),
		Logger:             log,
		Observe:            s.metrics.ObserveHTTP,
		OnReject:           s.metrics.Problem,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.Handle("/", s.api)
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, err
	}
	return s, nil
}

// openStore opens the job store --store names.
func openStore(ctx context.Context, cfg *config.Serve, log *slog.Logger) (store.Driver, error) {
	kind, err := cfg.StoreKind()
	if err != nil {
		return nil, &config.UsageError{Err: err}
	}
	if kind == "postgres" {
		ctx, cancel := context.WithTimeout(ctx, openTimeout)
		defer cancel()
		st, err := postgres.Open(ctx, cfg.Store, &postgres.Options{Logger: log, Migrate: cfg.Migrate, Schema: cfg.Schema})
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", config.RedactURL(cfg.Store), err)
		}
		return st, nil
	}
	return embedded.Open(filepath.Join(cfg.DataDir, "jobs"), &embedded.Options{Logger: log})
}

// blobStore is a blob store that gantry serve closes.
type blobStore interface {
	blob.Store
	Close() error
}

// openBlobs opens the blob store --blob names: the fs store in the data
// dir, or an S3 bucket.
func openBlobs(ctx context.Context, cfg *config.Serve, log *slog.Logger) (blobStore, error) {
	kind, err := cfg.BlobKind()
	if err != nil {
		return nil, &config.UsageError{Err: err}
	}
	// Each store is returned only when it opened: a nil *Store in the
	// interface would not be nil for close.
	if kind == "s3" {
		ctx, cancel := context.WithTimeout(ctx, openTimeout)
		defer cancel()
		st, err := blobs3.Open(ctx, cfg.Blob, &blobs3.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := blobfs.Open(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		return nil, err
	}
	return st, nil
}

// deleteBlobs deletes the payloads of the jobs that retention pruned.
func (s *server) deleteBlobs(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := s.blobs.Delete(ctx, k); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "deleting the payload of a pruned job",
				slog.String("blob_key", k), slog.Any("error", err))
		}
	}
}

// run serves until ctx ends (a signal), then shuts down gracefully.
func (s *server) run(ctx context.Context) error {
	if err := s.client.Start(ctx); err != nil {
		s.close()
		return err
	}
	served := make(chan error, 1)
	s.serving = true
	go func() { served <- s.http.Serve(s.ln) }()
	s.logStart()

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", slog.String("cause", context.Cause(ctx).Error()),
			slog.Duration("timeout", s.cfg.ShutdownTimeout))
	case err := <-served:
		runErr = fmt.Errorf("serving HTTP: %w", err)
		served = nil
	}
	return errors.Join(runErr, s.shutdown(served))
}

func (s *server) logStart() {
	kind, _ := s.cfg.StoreKind()
	storeDesc := kind
	if kind == "postgres" {
		storeDesc = config.RedactURL(s.cfg.Store)
	}
	dataDir, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		dataDir = s.cfg.DataDir
	}
	blobDesc := "fs"
	if st, ok := s.blobs.(*blobs3.Store); ok {
		blobDesc = st.String()
	}
	auth := "none (loopback only)"
	switch {
	case len(s.cfg.Tokens) > 0:
		auth = fmt.Sprintf("%d bearer tokens", len(s.cfg.Tokens))
	case s.cfg.AllowUnauthenticated:
		auth = "none (--allow-unauthenticated)"
	}
	kinds := s.client.Kinds()
	sort.Strings(kinds)
	s.log.Info("gantry is serving",
		slog.String("addr", s.ln.Addr().String()),
		slog.String("url", "http://"+s.ln.Addr().String()),
		slog.String("store", storeDesc),
		slog.String("data_dir", dataDir),
		slog.String("blob", blobDesc),
		slog.Int("workers", s.cfg.Workers),
		slog.Any("kinds", kinds),
		slog.String("auth", auth),
		slog.String("version", version()))
}

// shutdown drains: the API refuses new work at once and workers stop
// claiming; after the drain delay the listener closes and requests in
// flight finish; running jobs get until the shutdown deadline. served is
// the Serve goroutine's result, nil if it already returned.
func (s *server) shutdown(served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.api.Drain()
	stopped := make(chan error, 1)
	go func() { stopped <- s.client.Stop(ctx) }()

	// Keep answering (503 and a failing /readyz) for a moment, so that load
	// balancers take this node out before its listener closes.
	delay := time.NewTimer(s.cfg.DrainDelay)
	select {
	case <-delay.C:
	case <-ctx.Done():
	}
	delay.Stop()

	var errs []error
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("closing HTTP connections: %w", err))
		s.http.Close()
	}
	if served != nil {
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serving HTTP: %w", err))
		}
	}
	if err := <-stopped; err != nil {
		errs = append(errs, fmt.Errorf("running jobs did not finish within --shutdown-timeout %v; they were released and run again on the next start: %w", s.cfg.ShutdownTimeout, err))
	}
	if err := s.close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		s.log.Info("stopped")
	}
	return errors.Join(errs...)
}

// close releases what openServer opened.
func (s *server) close() error {
	var errs []error
	if s.ln != nil && !s.serving {
		errs = append(errs, s.ln.Close())
	}
	if s.blobs != nil {
		errs = append(errs, s.blobs.Close())
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the store: %w", err))
		}
	}
	return errors.Join(errs...)
}
