// Package blob defines where Gantry keeps the binary payloads of jobs: a
// Store streams payloads in and out, never holding one whole in memory.
// Implementations live in blob/fs (the default, in the data dir) and
// blob/s3 (any S3-compatible service).
package blob

import (
	"context"
	"errors"
	"io"

	"github.com/gantry-dev/gantry/internal/diskfull"
)

// ErrNotFound: no payload under that key.
var ErrNotFound = errors.New("blob not found")

// ErrTooLarge: the payload is larger than the limit given to Put.
var ErrTooLarge = errors.New("blob too large")

// ErrInsufficientStorage: the disk under the blob store is full; Put
// wraps it with the cause. It is the same error as
// store.ErrInsufficientStorage, which the HTTP API answers with 507.
var ErrInsufficientStorage = diskfull.Err

// Info describes a stored payload. It is what a Store returns, and what a
// job records of its payload (store.Job.Blob), in JSON with these names.
type Info struct {
	// Key locates the payload in the blob store.
	Key string `json:"key"`
	// Size is its length in bytes.
	Size int64 `json:"size"`
	// SHA256 is its lower-case hex SHA-256.
	SHA256 string `json:"sha256"`
	// ContentType is the media type it was stored with.
	ContentType string `json:"content_type,omitempty"`
}

// Store keeps payloads by key. Implementations are safe for concurrent use,
// and every method refuses a key that ValidateKey refuses, with its error.
type Store interface {
	// Put streams r into a new payload under key and returns its size and
	// digest once it is durable. When r yields more than limit bytes (a
	// limit of 0 means none), Put stores nothing and returns ErrTooLarge.
	// A failed or cancelled Put leaves nothing behind under key.
	Put(ctx context.Context, key string, r io.Reader, contentType string, limit int64) (*Info, error)
	// Open returns the payload under key for reading, and its size, or
	// ErrNotFound. The caller closes it.
	Open(ctx context.Context, key string) (io.ReadCloser, *Info, error)
	// Delete removes the payload under key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}
