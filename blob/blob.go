// Package blob defines where Gantry keeps the binary payloads of jobs: a
// Store streams payloads in and out, never holding one whole in memory.
// Implementations live in blob/fs (the default, in the data dir) and
// blob/s3 (any S3-compatible service).
package blob

import (
	"context"
	"errors"
	"io"
	"time"

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

// Lister is a Store that can list its payloads; the sweep of uploads that
// no job refers to uses it. blob/fs and blob/s3 are Listers.
type Lister interface {
	// List calls fn with each payload whose key begins with p.Prefix and
	// that was stored within p's window, in no set order, and stops at
	// fn's first error, which it returns. Payloads stored or deleted
	// while List runs may or may not be seen.
	List(ctx context.Context, p *ListParams, fn func(Listed) error) error
}

// ListParams select the payloads of Lister.List.
type ListParams struct {
	// Prefix, when not empty, is what their keys begin with.
	Prefix string
	// StoredAfter, when not zero, leaves out payloads stored at or before
	// it.
	StoredAfter time.Time
	// StoredBefore, when not zero, leaves out payloads stored after it.
	StoredBefore time.Time
}

// Listed is one payload found by Lister.List.
type Listed struct {
	Key  string
	Size int64
	// Stored is when the payload was stored (its Put committed).
	Stored time.Time
}

// Within reports whether t falls in p's window.
func (p *ListParams) Within(t time.Time) bool {
	return (p.StoredAfter.IsZero() || t.After(p.StoredAfter)) && (p.StoredBefore.IsZero() || !t.After(p.StoredBefore))
}
