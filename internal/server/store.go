package server

import (
	"context"
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
	return embedded.Open(filepath.Join(cfg.DataDir, "jobs"), &embedded.Options{Logger: log})
}

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
