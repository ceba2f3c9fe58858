package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/gantry-dev/gantry/blob"
	blobfs "github.com/gantry-dev/gantry/blob/fs"
	blobs3 "github.com/gantry-dev/gantry/blob/s3"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
	"github.com/gantry-dev/gantry/store/postgres"
)

// openTimeout bounds opening a PostgreSQL store or an S3 bucket.
const openTimeout = 30 * time.Second

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
	// Returned only when it opened: a nil *embedded.Store in the
	// interface would not be nil for Close.
	st, err := embedded.Open(filepath.Join(cfg.DataDir, "jobs"), &embedded.Options{Logger: log})
	var locked *embedded.LockedError
	if errors.As(err, &locked) {
		return nil, &dataDirInUseError{dataDir: cfg.DataDir, locked: locked}
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// dataDirInUseError is the error of a data dir whose embedded store
// another process has open, in the words of gantry serve.
type dataDirInUseError struct {
	dataDir string
	locked  *embedded.LockedError
}

func (e *dataDirInUseError) Error() string {
	dir, err := filepath.Abs(e.dataDir)
	if err != nil {
		dir = e.dataDir
	}
	who := "another process"
	if e.locked.PID > 0 {
		who = fmt.Sprintf("another process (pid %d)", e.locked.PID)
	}
	return fmt.Sprintf("the data dir %s is in use by %s: stop it, or give this server its own --data-dir. "+
		"The embedded store is opened by one process at a time; only a PostgreSQL store (--store postgres://...) "+
		"is shared by several servers", dir, who)
}

// Unwrap returns the store's error: errors.Is(err, embedded.ErrLocked).
func (e *dataDirInUseError) Unwrap() error { return e.locked }

// blobStore is a blob store that the server closes.
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
	// interface would not be nil for Close.
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
