package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
)

// failingGet is a store whose Get fails with err.
type failingGet struct {
	store.Driver
	err error
}

func (s failingGet) Get(context.Context, string) (*store.Job, error) { return nil, s.err }

// failingOpen is a blob store whose Open fails with err.
type failingOpen struct {
	blob.Store
	err error
}

func (s failingOpen) Open(context.Context, string) (io.ReadCloser, *blob.Info, error) {
	return nil, nil, s.err
}

// connReset is what a reset connection looks like to its reader.
var connReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// TestOnlyTheStoreSaysItIsUnavailable: an error that wraps
// store.ErrUnavailable answers 503 store_unavailable with Retry-After;
// other I/O errors from a store or a blob store (a syscall.Errno or a net
// error, which are both net.Errors) are not an outage of the store and
// answer 500.
func TestOnlyTheStoreSaysItIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"unavailable", fmt.Errorf("postgres: get: %w: %w", store.ErrUnavailable, syscall.ECONNREFUSED),
			http.StatusServiceUnavailable, httpapi.CodeStoreUnavailable},
		{"connection reset", syscall.ECONNRESET, http.StatusInternalServerError, httpapi.CodeInternal},
		{"disk full", fmt.Errorf("embedded: %w", syscall.ENOSPC), http.StatusInternalServerError, httpapi.CodeInternal},
		{"net error", fmt.Errorf("get: %w", connReset), http.StatusInternalServerError, httpapi.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, &options{wrap: func(d store.Driver) store.Driver { return failingGet{d, tc.err} }})
			resp := e.expect(tc.status, req{method: "GET", path: "/v1/jobs/" + store.NewID()})
			p := resp.problem(t)
			if p.Code != tc.code {
				t.Errorf("code %q, want %q", p.Code, tc.code)
			}
			if retry := resp.Header.Get("Retry-After"); (retry != "") != (tc.code == httpapi.CodeStoreUnavailable) {
				t.Errorf("Retry-After %q with %s", retry, p.Code)
			}
			if strings.Contains(string(resp.body), tc.err.Error()) {
				t.Errorf("the answer tells the internal cause: %s", resp.body)
			}
		})
	}
}

// TestBlobStoreErrorIsNotAStoreOutage: an S3 request that fails in its
// transport (a *url.Error, which is a net.Error) answers 500, not 503
// store_unavailable.
func TestBlobStoreErrorIsNotAStoreOutage(t *testing.T) {
	s3err := fmt.Errorf("blob/s3: get %q: %w", "uploads/x",
		&url.Error{Op: "Get", URL: "http://127.0.0.1:9000/bucket/uploads/x", Err: connReset})
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.Blobs = failingOpen{c.Blobs, s3err} }})
	var j httpapi.JobResource
	e.upload("kind=k", "image/png", strings.NewReader("payload"), nil).decode(t, &j)
	p := e.expect(http.StatusInternalServerError, req{method: "GET", path: "/v1/jobs/" + j.ID + "/blob"}).problem(t)
	if p.Code != httpapi.CodeInternal {
		t.Errorf("code %q, want %q", p.Code, httpapi.CodeInternal)
	}
}

// TestInsufficientStorageIs507: an error that wraps
// store.ErrInsufficientStorage answers 507 insufficient_storage with
// Retry-After 30, also when it wraps store.ErrUnavailable too (a store
// broken by a full disk wraps both).
func TestInsufficientStorageIs507(t *testing.T) {
	err := fmt.Errorf("embedded: %w: a commit failed: %w", store.ErrUnavailable, store.NoSpace(syscall.ENOSPC))
	e := setup(t, &options{wrap: func(d store.Driver) store.Driver { return failingGet{d, err} }})
	resp := e.expect(http.StatusInsufficientStorage, req{method: "GET", path: "/v1/jobs/" + store.NewID()})
	if p := resp.problem(t); p.Code != httpapi.CodeInsufficientStorage || p.RetryAfter != 30 || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("code %q, Retry-After %q (%d), want %q and 30", p.Code, resp.Header.Get("Retry-After"), p.RetryAfter, httpapi.CodeInsufficientStorage)
	}
}

// notLive is a store that reports, through store.Liveness, a failure it
// cannot leave by itself.
type notLive struct {
	store.Driver
	err error
}

func (s notLive) Live() error { return s.err }

// unreachable is a store whose Ping fails as a lost database does.
type unreachable struct{ store.Driver }

func (unreachable) Ping(context.Context) error {
	return fmt.Errorf("postgres: ping: %w: %w", store.ErrUnavailable, syscall.ECONNREFUSED)
}

// TestHealthzFailsOnlyForAStoreThatNeedsARestart: /healthz answers 503
// while the store's Live reports an error, and 200 for a store that
// cannot reach its database (readiness, not liveness).
func TestHealthzFailsOnlyForAStoreThatNeedsARestart(t *testing.T) {
	t.Run("NotLive", func(t *testing.T) {
		e := setup(t, &options{wrap: func(d store.Driver) store.Driver { return notLive{d, errors.New("pebble panicked")} }})
		p := e.expect(http.StatusServiceUnavailable, req{method: "GET", path: "/healthz"}).problem(t)
		if p.Code != httpapi.CodeStoreUnavailable {
			t.Errorf("code %q, want %q", p.Code, httpapi.CodeStoreUnavailable)
		}
	})
	t.Run("Live", func(t *testing.T) {
		e := setup(t, &options{wrap: func(d store.Driver) store.Driver { return notLive{d, nil} }})
		e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
	})
	t.Run("DatabaseUnreachable", func(t *testing.T) {
		e := setup(t, &options{wrap: func(d store.Driver) store.Driver { return unreachable{d} }})
		e.expect(http.StatusOK, req{method: "GET", path: "/healthz"})
		e.expect(http.StatusServiceUnavailable, req{method: "GET", path: "/readyz"})
	})
}
