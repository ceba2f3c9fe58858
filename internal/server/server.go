package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-dev/gantry"
	blobs3 "github.com/gantry-dev/gantry/blob/s3"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/metrics"
	"github.com/gantry-dev/gantry/internal/push"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/ui"
)

// Timeouts and limits of the HTTP server. The API extends or lifts them
// per request where it must: long-polls, event streams and downloads set
// their own write deadlines, and uploads replace the read deadline with
// an idle one (--upload-idle-timeout) that each read extends. There is
// no server-wide WriteTimeout: its clock starts when a request's headers
// are read, so it would cut off the answer to any upload that takes
// longer.
const (
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a request with its (JSON) body.
	ReadTimeout = time.Minute
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
)

// Options are the settings of Open that do not come from config.Serve.
// A nil *Options is the zero value.
type Options struct {
	// Logger receives the server's logs. Default: none are written.
	Logger *slog.Logger
	// Version is the build's version, logged when the server starts
	// serving. Default "devel".
	Version string
	// TracerProvider receives the server's spans. Default: the one the
	// OTEL_* variables ask for (TracingEnabled), or none.
	TracerProvider trace.TracerProvider
}

// Server is an opened Gantry server: everything Open opened, closed in
// reverse order by Run's shutdown (or by Close, for a server that never
// runs).
type Server struct {
	cfg     *config.Serve
	version string
	log     *slog.Logger
	store   store.Driver
	blobs   blobStore
	metrics *metrics.Metrics
	client  *gantry.Client
	api     *httpapi.Server
	push    *push.Dispatcher // nil without push targets
	// pushSeen counts the pushes per target for the dashboard (ui.go);
	// nil without push targets.
	pushSeen *pushSignals
	http     *http.Server
	ln       *limitListener
	serving  bool // http.Serve owns ln
	// files is the process's open-file limit; maxConns and maxStreams the
	// limits in effect (configured or derived from files).
	files                uint64
	maxConns, maxStreams int
	// stopSweep stops the blob sweep and waits for it; nil when none runs.
	stopSweep func()
	// stopBeat stops the node heartbeat (nodes.go) and removes the node;
	// nil when none runs.
	stopBeat func()
	// dash is the dashboard (ui.go); closed after the HTTP server.
	dash *ui.Handler
	// tp receives the spans (nil: the global provider, a no-op unless a
	// program installed one); stopTrace flushes the exporter.
	tp        trace.TracerProvider
	stopTrace func(context.Context) error
}

// ErrCannotStart marks the errors of a server that did not start: Open's
// (but a *config.UsageError), and Run's before it serves. errors.Is finds
// the cause beneath it: embedded.ErrLocked for a data dir that another
// process has open.
var ErrCannotStart = errors.New("gantry cannot start")

// Open opens the stores cfg names, builds the client and the API and
// listens on cfg.Addr, or undoes what it did and fails. A store or blob
// setting that does not parse is a *config.UsageError; any other error is
// ErrCannotStart. Open does not start the client's workers nor serve: Run
// does.
func Open(ctx context.Context, cfg *config.Serve, opts *Options) (_ *Server, err error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{cfg: cfg, version: opts.Version, log: opts.Logger}
	if s.version == "" {
		s.version = "devel"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			s.Close()
			err = cannotStart(err)
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := openStore(ctx, cfg, s.log)
	if err != nil {
		return nil, err
	}
	s.store = st
	blobs, err := openBlobs(ctx, cfg, s.log)
	if err != nil {
		return nil, err
	}
	s.blobs = blobs
	s.files = fileLimit()
	s.maxConns, s.maxStreams = connLimits(cfg.MaxConnections, cfg.MaxStreams, s.files)
	if s.maxStreams >= s.maxConns {
		return nil, &config.UsageError{Err: fmt.Errorf("--max-streams %d must be below the connection limit %d (--max-connections, or half of the open-file limit %d)", s.maxStreams, s.maxConns, s.files)}
	}
	s.tp, s.stopTrace = opts.TracerProvider, func(context.Context) error { return nil }
	if s.tp == nil {
		if s.tp, s.stopTrace, err = newTracerProvider(ctx, os.Getenv); err != nil {
			return nil, &config.UsageError{Err: err}
		}
	}
	limitStats, _ := store.As[store.LimitStatsStore](s.store)
	s.metrics = metrics.New(&metrics.Config{Queues: s.store, Limits: limitStats, Logger: s.log})
	if s.client, err = gantry.NewClient(metrics.InstrumentStore(s.store, s.metrics), s.clientConfig()); err != nil {
		return nil, err
	}
	if err := s.openPush(); err != nil {
		return nil, err
	}
	if s.api, err = httpapi.New(s.apiConfig()); err != nil {
		return nil, err
	}
	h, err := s.handler()
	if err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = newLimitListener(ln, s.maxConns)
	s.http.ConnState = s.ln.connState
	s.registerLimitMetrics()
	s.metrics.RegisterNode(s.NodeID(), func() metrics.Capacity {
		c := s.client.Capacity()
		return metrics.Capacity{Running: c.Running, Slots: c.Slots}
	})
	return s, nil
}

// cannotStart marks err as the reason the server did not start, unless
// it is a mistake in the settings.
func cannotStart(err error) error {
	var ue *config.UsageError
	if errors.As(err, &ue) || errors.Is(err, ErrCannotStart) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCannotStart, err)
}

// clientConfig maps the settings to the client's: the demo kinds, the
// workers of each queue, the hooks that feed the metrics.
func (s *Server) clientConfig() *gantry.Config {
	reg := gantry.NewRegistry()
	if s.cfg.Demo {
		RegisterDemo(reg)
	}
	queues := map[string]gantry.QueueConfig{gantry.DefaultQueue: {Workers: s.cfg.Workers}}
	for name, q := range s.cfg.Queues {
		if q.Workers > 0 && name != gantry.DefaultQueue {
			queues[name] = gantry.QueueConfig{Workers: q.Workers}
		}
	}
	return &gantry.Config{
		Registry:  reg,
		Queues:    queues,
		Limits:    s.cfg.Limits(),
		Retention: s.cfg.Retention,
		Logger:    s.log,
		Hooks:     gantry.Hooks{Started: s.metrics.JobStarted, Finished: s.metrics.JobFinished, RateWaited: s.metrics.LimitDelayed},
		OnPrune:   s.deleteBlobs,
		// nil: the global provider.
		TracerProvider: s.tp,
	}
}

// apiConfig maps the settings to the HTTP API's: tokens, admission
// limits, body limits, the metrics' hooks.
func (s *Server) apiConfig() *httpapi.Config {
	limits := map[string]int{}
	for name, q := range s.cfg.Queues {
		if q.MaxPending > 0 {
			limits[name] = q.MaxPending
		}
	}
	tokens := make([]httpapi.Token, 0, len(s.cfg.Tokens))
	for _, t := range s.cfg.Tokens {
		tok := httpapi.Token{Value: t.Value}
		for _, sc := range t.Scopes {
			tok.Scopes = append(tok.Scopes, httpapi.Scope(sc))
		}
		tokens = append(tokens, tok)
	}
	return &httpapi.Config{
		Client:             s.client,
		Blobs:              s.blobs,
		Tokens:             tokens,
		MaxPending:         s.cfg.MaxPending,
		MaxPendingPerQueue: limits,
		MaxJSONBody:        int64(s.cfg.MaxJSONBytes),
		MaxBlobBody:        int64(s.cfg.MaxBlobBytes),
		MaxWorkflowBody:    int64(s.cfg.MaxWorkflowBytes),
		MaxWorkflowJobs:    s.cfg.MaxWorkflowJobs,
		UploadIdleTimeout:  s.cfg.UploadIdleTimeout,
		MaxStreams:         s.maxStreams,
		MaxStreamsPerToken: s.cfg.MaxStreamsPerToken,
		Logger:             s.log,
		Metrics:            s.metrics.Handler(),
		Observe:            s.metrics.ObserveHTTP,
		OnReject:           s.metrics.Problem,
	}
}

// Addr returns the address the server listens on: cfg.Addr with the port
// the system chose for ":0".
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// deleteBlobs deletes the payloads of the jobs that retention pruned.
func (s *Server) deleteBlobs(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := s.blobs.Delete(ctx, k); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "deleting the payload of a pruned job",
				slog.String("blob_key", k), slog.Any("error", err))
		}
	}
}

// Run starts the client's workers and serves until ctx ends (a signal),
// then shuts down gracefully: the API refuses new work at once and
// workers stop claiming; after cfg.DrainDelay the listener closes and
// requests in flight finish; running jobs get until cfg.ShutdownTimeout.
// Run closes what Open opened before it returns.
func (s *Server) Run(ctx context.Context) error {
	if err := s.client.Start(ctx); err != nil {
		s.Close()
		return cannotStart(err)
	}
	if s.push != nil {
		if err := s.push.Start(ctx); err != nil {
			_ = s.client.Stop(ctx)
			s.Close()
			return cannotStart(err)
		}
	}
	if w := s.newSweeper(); w != nil {
		sctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { s.sweepLoop(sctx, w) })
		s.stopSweep = func() { cancel(); wg.Wait() }
	}
	s.stopBeat = s.startBeat(ctx)
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

func (s *Server) logStart() {
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
		slog.Int("max_connections", s.maxConns),
		slog.Int("max_streams", s.maxStreams),
		slog.Int("max_streams_per_token", s.cfg.MaxStreamsPerToken),
		slog.Uint64("open_file_limit", s.files),
		slog.String("version", s.version))
}

// shutdown drains: the API refuses new work at once and workers stop
// claiming; after the drain delay the listener closes and requests in
// flight finish; running jobs get until the shutdown deadline. served is
// the Serve goroutine's result, nil if it already returned.
func (s *Server) shutdown(served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.api.Drain()
	stopped := make(chan error, 1)
	go func() {
		// Pushes in flight and in-process jobs get the same deadline.
		pushed := make(chan error, 1)
		go func() { pushed <- s.stopPush(ctx) }()
		err := s.client.Stop(ctx)
		stopped <- errors.Join(<-pushed, err)
	}()

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
	if s.stopSweep != nil {
		s.stopSweep()
	}
	s.dash.Close()
	if s.stopBeat != nil {
		s.stopBeat()
	}
	if err := <-stopped; err != nil {
		errs = append(errs, fmt.Errorf("running jobs did not finish within --shutdown-timeout %v; they were released and run again on the next start: %w", s.cfg.ShutdownTimeout, err))
	}
	if err := s.Close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		s.log.Info("stopped")
	}
	return errors.Join(errs...)
}

// openPush makes the dispatcher of the configured push targets, if any,
// with its metrics.
func (s *Server) openPush() error {
	targets, err := s.cfg.PushTargets(os.Getenv)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	if len(targets) == 0 {
		return nil
	}
	pm := s.metrics.Push(func() []metrics.PushStat {
		var out []metrics.PushStat
		for _, st := range s.push.Stats() {
			out = append(out, metrics.PushStat{Target: st.Target, Limit: st.Limit, InFlight: st.InFlight})
		}
		return out
	})
	s.pushSeen = newPushSignals()
	observe := func(target, outcome string, took time.Duration) {
		pm.Request(target, outcome, took)
		s.pushSeen.observe(target, outcome, took)
	}
	s.push, err = push.New(&push.Config{Client: s.client, Targets: targets, Logger: s.log, Observe: observe,
		TracerProvider: s.tp})
	return err
}

// stopPush stops the push dispatcher, if any: pushes in flight get until
// ctx ends, then their jobs are released.
func (s *Server) stopPush(ctx context.Context) error {
	if s.push == nil {
		return nil
	}
	return s.push.Stop(ctx)
}

// Close releases what Open opened: the listener, the blob store and the
// job store. Run calls it before it returns; call it only for a server
// that will not Run.
func (s *Server) Close() error {
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
	if s.stopTrace != nil {
		ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
		if err := s.stopTrace(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flushing the trace exporter: %w", err))
		}
		cancel()
		s.stopTrace = nil
	}
	return errors.Join(errs...)
}

// NewLogger returns the logger of `gantry serve`: text or JSON (format
// "json") on w, from level up.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
