package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob/s3"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/jsonkeys"
	"github.com/gantry-dev/gantry/store"
)

// Defaults of Serve.
const (
	DefaultAddr         = "127.0.0.1:8080"
	DefaultDataDir      = "gantry-data"
	DefaultStore        = "embedded"
	DefaultBlob         = "fs"
	DefaultMaxJSONBytes = 1 << 20
	DefaultMaxBlobBytes = 5 << 30
	// DefaultMaxWorkflowBytes and DefaultMaxWorkflowJobs bound POST
	// /v1/workflows.
	DefaultMaxWorkflowBytes = 16 << 20
	DefaultMaxWorkflowJobs  = 10000
	DefaultLogFormat        = "text"
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultDrainDelay       = 2 * time.Second
	// DefaultUploadIdleTimeout is httpapi's.
	DefaultUploadIdleTimeout = httpapi.DefaultUploadIdleTimeout
	DefaultBlobSweepInterval = time.Hour
	DefaultBlobSweepGrace    = 24 * time.Hour
)

// Serve is the configuration of `gantry serve`.
type Serve struct {
	// Addr is the TCP address to listen on. Default DefaultAddr.
	Addr string
	// DataDir holds the embedded store (DataDir/jobs) and the blobs
	// (DataDir/blobs). Default DefaultDataDir, relative to the working
	// directory.
	DataDir string
	// Store is "embedded" or a postgres:// URL. Default DefaultStore.
	Store string
	// Blob is where uploaded payloads go: "fs", files in DataDir/blobs,
	// or an s3://bucket/prefix URL (with the optional parameters
	// endpoint, region and path_style) for blob/s3, with the
	// credentials of the AWS environment. Default DefaultBlob.
	Blob string
	// Workers is how many jobs of the default queue run at once in this
	// process (only the built-in kinds run in-process). Default
	// gantry.DefaultWorkers.
	Workers int
	// MaxPending is the admission limit of every queue (non-final jobs);
	// zero means none. Default 0.
	MaxPending int
	// MaxJSONBytes limits JSON request bodies. Default DefaultMaxJSONBytes.
	MaxJSONBytes ByteSize
	// MaxBlobBytes limits uploaded payloads. Default DefaultMaxBlobBytes.
	MaxBlobBytes ByteSize
	// MaxWorkflowBytes limits the body of POST /v1/workflows. Default
	// DefaultMaxWorkflowBytes.
	MaxWorkflowBytes ByteSize
	// MaxWorkflowJobs bounds the jobs of one workflow. Default
	// DefaultMaxWorkflowJobs.
	MaxWorkflowJobs int
	// UploadIdleTimeout is how long a binary upload may go without
	// receiving a byte (each read extends it); negative: none. Default
	// DefaultUploadIdleTimeout.
	UploadIdleTimeout time.Duration
	// MaxConnections bounds the open HTTP connections; beyond it new ones
	// wait in the listen backlog, and idle keep-alive connections are
	// closed to make room. Zero: half the process's open-file limit
	// (ulimit -n), between 16 and 65536.
	MaxConnections int
	// MaxStreams bounds the long-lived requests (event streams,
	// long-polls, lease waits, uploads) served at once; beyond it they get
	// 503 server_busy. It must be below MaxConnections, so that short
	// requests (/healthz) always find a connection. Zero: half of
	// MaxConnections.
	MaxStreams int
	// MaxStreamsPerToken bounds the long-lived requests of one token (of
	// one client address without tokens). Zero: only MaxStreams applies.
	MaxStreamsPerToken int
	// BlobSweepInterval is how often uploads no job refers to are looked
	// for and deleted; negative: never. Default DefaultBlobSweepInterval.
	BlobSweepInterval time.Duration
	// BlobSweepGrace is how old an upload no job refers to must be before
	// the sweep deletes it: longer than any enqueue takes to commit after
	// its upload. Default DefaultBlobSweepGrace.
	BlobSweepGrace time.Duration
	// ConfigFile is the JSON config file read, if any.
	ConfigFile string
	// LogFormat is "text" or "json". Default DefaultLogFormat.
	LogFormat string
	// LogLevel is the least level logged. Default info.
	LogLevel slog.Level
	// AllowUnauthenticated allows a non-loopback Addr without tokens.
	AllowUnauthenticated bool
	// Tokens are the accepted bearer tokens; none means no authentication.
	Tokens Tokens
	// ShutdownTimeout bounds the graceful shutdown after a signal. Default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Retention is how long finished jobs (and their blobs) are kept before
	// maintenance deletes them; negative keeps them forever. Default
	// gantry.DefaultRetention.
	Retention time.Duration
	// DrainDelay is how long the server keeps serving (with /readyz at 503
	// and new work refused) after a signal before it stops accepting
	// connections, so that load balancers notice. Default DefaultDrainDelay.
	DrainDelay time.Duration
	// Demo registers the built-in kinds gantry.sleep and gantry.echo.
	// Default true.
	Demo bool
	// Migrate applies pending PostgreSQL migrations at startup.
	Migrate bool
	// Schema is the PostgreSQL schema of Gantry's tables; empty means the
	// store's default, "gantry".
	Schema string
	// Queues configures named queues; only the config file sets it.
	Queues map[string]Queue
	// Push configures the push targets, by kind or "queue:NAME"; only the
	// config file sets it.
	Push map[string]PushTarget
}

// Queue is the configuration of one queue in the config file.
type Queue struct {
	// Workers is how many of its jobs run at once in this process; zero:
	// the queue is not worked in-process (its jobs are for external
	// workers). For the default queue, the file's "workers" key.
	Workers int `json:"workers"`
	// MaxPending is its admission limit, overriding max_pending; zero:
	// none.
	MaxPending int `json:"max_pending"`
	// Rate and Burst, Key, PerKeyConcurrency, PerKeyRate, PerKeyBurst,
	// Weights and Order are its stored limits (gantry.Limits, whose JSON
	// names these keys share), applied at start when Rate or Key is set:
	// the last node to start wins.
	Rate              string         `json:"rate"`
	Burst             int            `json:"burst"`
	Key               string         `json:"key"`
	PerKeyConcurrency int            `json:"per_key_concurrency"`
	PerKeyRate        string         `json:"per_key_rate"`
	PerKeyBurst       int            `json:"per_key_burst"`
	Weights           map[string]int `json:"weights"`
	Order             string         `json:"order"`
}

// limits returns the stored limits q sets.
func (q Queue) limits() gantry.Limits {
	return gantry.Limits{Rate: q.Rate, Burst: q.Burst, Key: q.Key, PerKeyConcurrency: q.PerKeyConcurrency,
		PerKeyRate: q.PerKeyRate, PerKeyBurst: q.PerKeyBurst, Weights: q.Weights, Order: q.Order}
}

// Limits returns the stored limits the file sets for each queue: those
// with a rate or a key.
func (s *Serve) Limits() map[string]gantry.Limits {
	out := map[string]gantry.Limits{}
	for name, q := range s.Queues {
		if l := q.limits(); !l.Zero() {
			out[name] = l
		}
	}
	return out
}

// DefaultServe returns the defaults.
func DefaultServe() *Serve {
	return &Serve{
		Addr:         DefaultAddr,
		DataDir:      DefaultDataDir,
		Store:        DefaultStore,
		Blob:         DefaultBlob,
		Workers:      gantry.DefaultWorkers,
		MaxJSONBytes: DefaultMaxJSONBytes,
		MaxBlobBytes: DefaultMaxBlobBytes,

		MaxWorkflowBytes: DefaultMaxWorkflowBytes,
		MaxWorkflowJobs:  DefaultMaxWorkflowJobs,
		LogFormat:        DefaultLogFormat,
		LogLevel:         slog.LevelInfo,
		ShutdownTimeout:  DefaultShutdownTimeout,
		DrainDelay:       DefaultDrainDelay,
		Retention:        gantry.DefaultRetention,
		Demo:             true,

		UploadIdleTimeout: DefaultUploadIdleTimeout,
		BlobSweepInterval: DefaultBlobSweepInterval,
		BlobSweepGrace:    DefaultBlobSweepGrace,
	}
}

// serveAliases are the seed names of the environment.
var serveAliases = map[string][]string{
	"workers":     {"MAX_WORKERS"},
	"max-pending": {"MAX_QUEUE"},
}

// Flags registers the flags of `gantry serve` on fs, bound to s.
func (s *Serve) Flags(fs *flag.FlagSet) {
	fs.StringVar(&s.Addr, "addr", s.Addr, "`host:port` to listen on; without tokens, only a loopback address")
	fs.StringVar(&s.DataDir, "data-dir", s.DataDir, "`dir`ectory of the embedded store (jobs/) and the blobs (blobs/)")
	fs.StringVar(&s.Store, "store", s.Store, "job store: embedded, or a postgres://user@host/db `URL`")
	fs.StringVar(&s.Blob, "blob", s.Blob, "blob store of uploaded payloads: fs (in --data-dir/blobs) or an s3://bucket/prefix `URL` (?endpoint=http://host:port&region=...&path_style=true; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	fs.IntVar(&s.Workers, "workers", s.Workers, "in-process workers of the default queue (env also MAX_WORKERS)")
	fs.IntVar(&s.MaxPending, "max-pending", s.MaxPending, "most unfinished jobs a queue may hold before enqueues get 429; 0: no limit (env also MAX_QUEUE)")
	fs.Var(&s.MaxJSONBytes, "max-json-bytes", "largest JSON request `size` (bytes, or with KiB, MiB, GiB, KB, MB, GB)")
	fs.Var(&s.MaxBlobBytes, "max-blob-bytes", "largest uploaded payload `size` (bytes, or with KiB, MiB, GiB, KB, MB, GB)")
	fs.Var(&s.MaxWorkflowBytes, "max-workflow-bytes", "largest POST /v1/workflows body `size` (bytes, or with KiB, MiB, GiB, KB, MB, GB)")
	fs.IntVar(&s.MaxWorkflowJobs, "max-workflow-jobs", s.MaxWorkflowJobs, "most jobs of one workflow")
	fs.DurationVar(&s.UploadIdleTimeout, "upload-idle-timeout", s.UploadIdleTimeout, "how long a binary upload may go without receiving a byte before it is answered 408; each read extends it; negative: no limit")
	fs.IntVar(&s.MaxConnections, "max-connections", s.MaxConnections, "most open HTTP connections; beyond it new ones wait in the listen backlog; 0: half of ulimit -n")
	fs.IntVar(&s.MaxStreams, "max-streams", s.MaxStreams, "most event streams, long-polls, lease waits and uploads at once, below --max-connections; beyond it they get 503 server_busy; 0: half of --max-connections")
	fs.IntVar(&s.MaxStreamsPerToken, "max-streams-per-token", s.MaxStreamsPerToken, "most long-lived requests of one token (one client address without tokens); 0: only --max-streams applies")
	fs.DurationVar(&s.BlobSweepInterval, "blob-sweep-interval", s.BlobSweepInterval, "how often uploads that no job refers to (left by a crash) are deleted; negative: never")
	fs.DurationVar(&s.BlobSweepGrace, "blob-sweep-grace", s.BlobSweepGrace, "how old an upload that no job refers to must be before the sweep deletes it")
	fs.StringVar(&s.ConfigFile, "config", s.ConfigFile, "JSON config `file`; flags and environment variables override it")
	fs.StringVar(&s.LogFormat, "log-format", s.LogFormat, "log `format`: text or json")
	fs.TextVar(&s.LogLevel, "log-level", s.LogLevel, "least `level` logged: debug, info, warn or error")
	fs.BoolVar(&s.AllowUnauthenticated, "allow-unauthenticated", s.AllowUnauthenticated, "allow a non-loopback --addr without tokens")
	fs.Var(&s.Tokens, "tokens", "bearer tokens as `list` \"token:scope,scope;token2:admin\" (scopes: enqueue, read, work, admin); prefer GANTRY_TOKENS, the command line is visible to other users")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", s.ShutdownTimeout, "how long running jobs and requests may take to finish after SIGINT or SIGTERM")
	fs.DurationVar(&s.DrainDelay, "drain-delay", s.DrainDelay, "how long to keep answering (readyz 503, new work 503) after a signal before closing the listener")
	fs.DurationVar(&s.Retention, "retention", s.Retention, "how long finished jobs and their blobs are kept before they are deleted; negative: forever")
	fs.BoolVar(&s.Demo, "demo", s.Demo, "run the built-in kinds gantry.sleep and gantry.echo in-process")
	fs.BoolVar(&s.Migrate, "migrate", s.Migrate, "with a postgres:// --store, apply pending schema migrations at startup")
	fs.StringVar(&s.Schema, "schema", s.Schema, "with a postgres:// --store, the PostgreSQL `schema` of Gantry's tables (default gantry)")
}

// LoadServe returns the settings of `gantry serve` from args (the flags
// after "serve"), the environment and the config file they name (--config
// or GANTRY_CONFIG), over the defaults, validated. It returns flag.ErrHelp
// for --help, and a *UsageError for anything wrong in the inputs.
func LoadServe(args []string, getenv func(string) string) (*Serve, error) {
	// First pass: find the config file, and fail early on bad flags.
	probe := DefaultServe()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(discard{})
	probe.Flags(fs)
	pos, err := ParseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef("serve takes no arguments, got %q", pos[0])
	}
	path := probe.ConfigFile
	if path == "" {
		path = getenv(EnvName("config"))
	}

	s := DefaultServe()
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(discard{})
	s.Flags(fs)
	if path != "" {
		s.ConfigFile = path
		if err := ApplyFile(fs, path, s.sections(), "config"); err != nil {
			return nil, err
		}
	}
	if err := ApplyEnv(fs, getenv, serveAliases, "config"); err != nil {
		return nil, err
	}
	if _, err := ParseArgs(fs, args); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, &UsageError{Err: err}
	}
	return s, nil
}

// sections are the keys of the config file that are not flags, each with
// its decoder.
func (s *Serve) sections() map[string]func(json.RawMessage) error {
	return map[string]func(json.RawMessage) error{"queues": s.decodeQueues, "push": s.decodePush}
}

func (s *Serve) decodeQueues(raw json.RawMessage) error {
	qs, err := decodeSection[map[string]Queue](raw)
	if err != nil {
		return err
	}
	s.Queues = qs
	if q, ok := qs["default"]; ok && q.Workers > 0 {
		s.Workers = q.Workers
	}
	return nil
}

// decodeSection decodes a section of the config file strictly: keys match
// exactly (encoding/json would take "Workers" for "workers"), appear once,
// and are known.
func decodeSection[T any](raw json.RawMessage) (T, error) {
	var v T
	// A plain unknown key is left to the decoder below, whose error names
	// it.
	var ke *jsonkeys.Error
	if err := jsonkeys.Check(raw, reflect.TypeFor[T](), ""); errors.As(err, &ke) && (ke.Duplicate || ke.Suggest != "") {
		return v, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&v)
	return v, err
}

// Validate checks the settings against each other.
func (s *Serve) Validate() error {
	if _, port, err := net.SplitHostPort(s.Addr); err != nil {
		return fmt.Errorf("--addr %q: %v", s.Addr, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("--addr %q: the port must be a number from 0 to 65535", s.Addr)
	}
	if s.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	kind, err := s.StoreKind()
	if err != nil {
		return err
	}
	if _, err := s.BlobKind(); err != nil {
		return err
	}
	if (s.Migrate || s.Schema != "") && kind != "postgres" {
		return errors.New("--migrate and --schema apply to a postgres:// --store only")
	}
	switch {
	case s.Workers < 1 || s.Workers > gantry.MaxWorkers:
		return fmt.Errorf("--workers %d must be between 1 and %d", s.Workers, gantry.MaxWorkers)
	case s.MaxPending < 0:
		return fmt.Errorf("--max-pending %d must not be negative", s.MaxPending)
	case s.MaxJSONBytes < 1:
		return fmt.Errorf("--max-json-bytes %d must be positive", s.MaxJSONBytes)
	case s.MaxBlobBytes < 1:
		return fmt.Errorf("--max-blob-bytes %d must be positive", s.MaxBlobBytes)
	case s.MaxWorkflowBytes < 1:
		return fmt.Errorf("--max-workflow-bytes %d must be positive", s.MaxWorkflowBytes)
	case s.MaxWorkflowJobs < 1:
		return fmt.Errorf("--max-workflow-jobs %d must be positive", s.MaxWorkflowJobs)
	case s.MaxConnections < 0:
		return fmt.Errorf("--max-connections %d must not be negative", s.MaxConnections)
	case s.MaxStreams < 0:
		return fmt.Errorf("--max-streams %d must not be negative", s.MaxStreams)
	case s.MaxStreamsPerToken < 0:
		return fmt.Errorf("--max-streams-per-token %d must not be negative", s.MaxStreamsPerToken)
	case s.MaxConnections > 0 && s.MaxStreams >= s.MaxConnections:
		return fmt.Errorf("--max-streams %d must be below --max-connections %d, so that short requests such as /healthz always find a connection", s.MaxStreams, s.MaxConnections)
	case s.UploadIdleTimeout == 0:
		return errors.New("--upload-idle-timeout must not be 0; a negative value means no limit")
	case s.BlobSweepInterval == 0:
		return errors.New("--blob-sweep-interval must not be 0; a negative value turns the sweep off")
	case s.BlobSweepGrace <= 0:
		return fmt.Errorf("--blob-sweep-grace %v must be positive", s.BlobSweepGrace)
	case s.LogFormat != "text" && s.LogFormat != "json":
		return fmt.Errorf("--log-format %q must be text or json", s.LogFormat)
	case s.ShutdownTimeout <= 0:
		return fmt.Errorf("--shutdown-timeout %v must be positive", s.ShutdownTimeout)
	case s.Retention == 0:
		return fmt.Errorf("--retention must not be 0; a negative duration keeps finished jobs forever")
	case s.DrainDelay < 0:
		return fmt.Errorf("--drain-delay %v must not be negative", s.DrainDelay)
	case s.DrainDelay >= s.ShutdownTimeout:
		return fmt.Errorf("--drain-delay %v must be shorter than --shutdown-timeout %v", s.DrainDelay, s.ShutdownTimeout)
	}
	if _, err := s.PushTargets(nil); err != nil {
		return err
	}
	for name, q := range s.Queues {
		switch {
		case !store.ValidName(name):
			return fmt.Errorf("queues: %q is not a valid queue name: a name %s", name, store.NameRule)
		case q.Workers < 0 || q.Workers > gantry.MaxWorkers:
			return fmt.Errorf("queues.%s.workers %d must be between 0 and %d", name, q.Workers, gantry.MaxWorkers)
		case q.MaxPending < 0:
			return fmt.Errorf("queues.%s.max_pending %d must not be negative", name, q.MaxPending)
		}
		// Limits.Validate owns the rules; its errors name the fields by
		// their JSON names, the keys of the file.
		// ("rate: must be N/s...", a *store.FieldError).
		if err := gantry.LimitsJSONError(q.limits().Validate()); err != nil {
			return fmt.Errorf("queues.%s.%v", name, err)
		}
	}
	return nil
}

// StoreKind returns "embedded" or "postgres", or an error for any other
// --store.
func (s *Serve) StoreKind() (string, error) {
	if s.Store == "embedded" {
		return "embedded", nil
	}
	u, err := url.Parse(s.Store)
	if err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return "postgres", nil
	}
	return "", fmt.Errorf("--store %q: want embedded or a postgres:// URL", RedactURL(s.Store))
}

// BlobKind returns "fs" or "s3", or an error for any other --blob,
// including an s3:// URL that blob/s3 would refuse.
func (s *Serve) BlobKind() (string, error) {
	if s.Blob == "fs" {
		return "fs", nil
	}
	if strings.HasPrefix(s.Blob, "s3:") {
		if _, err := s3.ParseURL(s.Blob); err != nil {
			return "", fmt.Errorf("--blob: %w", err)
		}
		return "s3", nil
	}
	return "", fmt.Errorf("--blob %q: want fs or an s3://bucket/prefix URL", RedactURL(s.Blob))
}

// RedactURL hides the password of a URL, for logs and errors.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// CheckExposure refuses to serve without authentication on an address other
// hosts can reach, unless AllowUnauthenticated is set.
func (s *Serve) CheckExposure() error {
	if len(s.Tokens) > 0 || s.AllowUnauthenticated || IsLoopback(s.Addr) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without authentication: any host that can reach it could enqueue, read and cancel jobs. "+
		"Set tokens (GANTRY_TOKENS=\"secret:admin\" or --tokens), listen on a loopback address (--addr 127.0.0.1:8080), "+
		"or pass --allow-unauthenticated if something in front of Gantry authenticates requests", s.Addr)
}

// IsLoopback reports whether addr (host:port) listens only on a loopback
// interface: localhost, 127.0.0.0/8 or ::1. An empty host (all interfaces)
// is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
