package httpapi_test

import (
	"context"
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
