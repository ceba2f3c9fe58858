package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-dev/gantry/store"
)

// Defaults of Options.
const (
	// DefaultSchema is the PostgreSQL schema that holds Gantry's tables.
	DefaultSchema = "gantry"
	// DefaultMaxConns is the pool size when neither Options.MaxConns nor
	// the URL's pool_max_conns sets one. 64 goroutines enqueueing one job
	// each got 1,400-2,100 jobs/s with pgx's default of 4 connections (on
	// 2 CPUs) and 3,300-3,900 with 16 or 64.
	DefaultMaxConns = 16
	// DefaultCopyThreshold is the batch size from which Enqueue inserts
	// with COPY instead of a multi-row INSERT.
	DefaultCopyThreshold = 32
	// DefaultListenRetryMin and DefaultListenRetryMax bound the backoff
	// between attempts to reconnect the notification listener.
	DefaultListenRetryMin = 100 * time.Millisecond
	DefaultListenRetryMax = 10 * time.Second
	// DefaultListenTimeout bounds how long the first Notify waits for the
	// listener to be connected before it returns anyway.
	DefaultListenTimeout = 5 * time.Second
	// DefaultTxRetries is how many times a transaction that lost a deadlock
	// or a serialization conflict is tried again.
	DefaultTxRetries = 5
)

// Options configures a Store. The zero value, or nil, uses the defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds Gantry's tables: 1-55
	// characters of a-z, 0-9 and _. Default DefaultSchema. Change
	// notifications use the channel Schema+"_changes".
	Schema string
	// Logger receives the store's own events (listener reconnects,
	// migrations). Default: discard.
	Logger *slog.Logger
	// Migrate applies pending migrations in Open. Without it, Open refuses
	// a schema that is not at LatestVersion and names the command to run.
	Migrate bool
	// MaxConns bounds the connection pool, not counting the listener's
	// own connection. Default: pool_max_conns in the URL, else
	// DefaultMaxConns. Mind PostgreSQL's max_connections (100 by default)
	// across all nodes.
	MaxConns int32
	// CopyThreshold is the batch size from which Enqueue uses COPY.
	// Default DefaultCopyThreshold.
	CopyThreshold int
	// ListenRetryMin and ListenRetryMax bound the listener's reconnect
	// backoff. Defaults DefaultListenRetryMin and DefaultListenRetryMax.
	ListenRetryMin, ListenRetryMax time.Duration
	// ListenTimeout bounds how long the first Notify waits for the listener
	// to connect. Default DefaultListenTimeout.
	ListenTimeout time.Duration
	// TxRetries is how many times a transaction aborted by a deadlock or a
	// serialization failure is retried. Default DefaultTxRetries; a
	// negative value disables retries.
	TxRetries int
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CopyThreshold == 0 {
		c.CopyThreshold = DefaultCopyThreshold
	}
	if c.ListenRetryMin == 0 {
		c.ListenRetryMin = DefaultListenRetryMin
	}
	if c.ListenRetryMax == 0 {
		c.ListenRetryMax = DefaultListenRetryMax
	}
	if c.ListenTimeout == 0 {
		c.ListenTimeout = DefaultListenTimeout
	}
	if c.TxRetries == 0 {
		c.TxRetries = DefaultTxRetries
	}
	return c
}

func (o *Options) validate() error {
	if err := validSchema(o.Schema); err != nil {
		return err
	}
	switch {
	case o.MaxConns < 0:
		return errors.New("postgres: MaxConns must not be negative")
	case o.CopyThreshold < 1:
		return errors.New("postgres: CopyThreshold must be at least 1")
	case o.ListenRetryMin < 0 || o.ListenRetryMax < o.ListenRetryMin:
		return errors.New("postgres: ListenRetryMin must be positive and at most ListenRetryMax")
	case o.ListenTimeout < 0:
		return errors.New("postgres: ListenTimeout must not be negative")
	}
	return nil
}

// markUnavailable wraps err with store.ErrUnavailable when it says that the
// database, rather than the request, is the problem, and disk_full (53100)
// with store.ErrInsufficientStorage too.
func markUnavailable(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgerrcode.DiskFull {
		return fmt.Errorf("%w: %w: %w", store.ErrInsufficientStorage, store.ErrUnavailable, err)
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// unavailable reports whether err says that the database, rather than the
// request, is the problem.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources
			pe.Code == pgerrcode.AdminShutdown, pe.Code == pgerrcode.CrashShutdown,
			pe.Code == pgerrcode.CannotConnectNow:
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// ErrSchemaVersion: the schema is not at the version this build needs.
// Open wraps it with the versions and the command that fixes it.
var ErrSchemaVersion = errors.New("schema version mismatch")

// Store is a store.Driver, store.Notifier and store.Elector on PostgreSQL.
// Many Gantry nodes may share one database: claims use FOR UPDATE SKIP
// LOCKED, every change is announced with NOTIFY, and an advisory lock
// elects the node that runs maintenance.
type Store struct {
	pool   *pgxpool.Pool
	opts   Options
	log    *slog.Logger
	q      queries
	closed atomic.Bool

	closeOnce sync.Once
	listen    listener
	out       outbox
	lead      elector
	keyed     keyedCache
}

var (
	_ store.Driver   = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
)

// Open connects to the database at url (a postgres:// URL or a DSN that
// pgx understands) and checks that the schema is at LatestVersion, or
// migrates it when opts.Migrate is set. opts may be nil.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parsing the URL: %w", err)
	}
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = o.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, opts: o, log: o.Logger, q: newQueries(o.Schema)}
	s.listen.init(s, cfg.ConnConfig)
	if err := s.checkSchema(ctx); err != nil {
		pool.Close()
		return nil, markUnavailable(err)
	}
	s.out.start(s)
	return s, nil
}

func (s *Store) checkSchema(ctx context.Context) error {
	if s.opts.Migrate {
		st, err := Migrate(ctx, s.pool, s.opts.Schema, LatestVersion())
		if err != nil {
			return err
		}
		s.log.LogAttrs(ctx, slog.LevelDebug, "postgres: schema migrated",
			slog.String("schema", st.Schema), slog.Int("version", st.Current))
		return nil
	}
	v, err := currentVersion(ctx, s.pool, s.opts.Schema)
	if err != nil {
		return err
	}
	switch {
	case v < LatestVersion():
		return fmt.Errorf("postgres: schema %s is at version %d and this build needs %d: run `gantry migrate up`: %w",
			s.opts.Schema, v, LatestVersion(), ErrSchemaVersion)
	case v > LatestVersion():
		return fmt.Errorf("postgres: schema %s is at version %d, newer than this build's %d: upgrade gantry or run an older build's `gantry migrate down`: %w",
			s.opts.Schema, v, LatestVersion(), ErrSchemaVersion)
	}
	return nil
}

// Pool returns the store's connection pool, for callers that enqueue in
// their own transactions (see EnqueueTx).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema the store works in.
func (s *Store) Schema() string { return s.opts.Schema }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := s.pool.Ping(ctx); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// Close stops the listener and closes the pool. It waits for calls in
// flight to return their connections. Calls after Close return
// store.ErrClosed; a second Close does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.listen.close()
		s.out.close()
		s.lead.close() // before the pool, which waits for the leader's connection
		s.pool.Close()
	})
	return nil
}

// checkOpen returns store.ErrClosed once Close was called, and nil before:
// every method checks it before it takes a connection.
func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// pgTime is t as the database keeps it: timestamptz holds microseconds, so
// a time is truncated before it is stored or compared with stored ones,
// and the store gives every time back in UTC.
func pgTime(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// wrap turns a driver error into the error a caller sees: store.ErrClosed
// after Close, and the error with the operation's name otherwise.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrClosed)
	}
	var fe *store.FieldError
	var te *store.TransitionError
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrLeaseLost) ||
		errors.As(err, &fe) || errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, markUnavailable(err))
}

// inTx runs fn in a transaction and commits, retrying the whole transaction
// when PostgreSQL aborted it for a deadlock or a serialization failure.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	for try := 0; ; try++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || !retryable(err) || try >= s.opts.TxRetries {
			return err
		}
		s.log.LogAttrs(ctx, slog.LevelDebug, "postgres: retrying transaction", slog.String("error", err.Error()))
	}
}

func retryable(err error) bool {
	if errors.Is(err, errRetryTx) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) &&
		(pe.Code == pgerrcode.DeadlockDetected || pe.Code == pgerrcode.SerializationFailure)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgerrcode.UniqueViolation
}

// queries holds the statements, with the schema filled in.
type queries struct {
	schema  string // quoted
	jobs    string // quoted schema.jobs
	deps    string
	queues  string
	keys    string // quoted schema.queue_keys
	idem    string
	wf      string // quoted schema.workflows
	channel string // the notification channel, unquoted
	repl    *strings.Replacer
}

func newQueries(schema string) queries {
	q := pgx.Identifier{schema}.Sanitize()
	return queries{
		schema:  q,
		jobs:    q + ".jobs",
		deps:    q + ".job_deps",
		queues:  q + ".queues",
		keys:    q + ".queue_keys",
		idem:    q + ".idempotency_keys",
		wf:      q + ".workflows",
		channel: schema + "_changes",
		repl: strings.NewReplacer("{jobs}", q+".jobs", "{deps}", q+".job_deps", "{queues}", q+".queues", "{keys}", q+".queue_keys",
			"{workflows}", q+".workflows"),
	}
}

// sql replaces {jobs}, {deps}, {queues}, {keys} and {workflows} in a statement.
func (q queries) sql(s string) string {
	return q.repl.Replace(s)
}
