package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

// DefaultServer is the server the CLI talks to without --server or
// GANTRY_URL.
const DefaultServer = "http://127.0.0.1:8080"

// maxResponse bounds the JSON answers the CLI reads.
const maxResponse = 64 << 20

// clientFlags are the flags of every command that talks to a server.
type clientFlags struct {
	server string
	token  string
	json   bool
}

// register adds --server, --token and --json to fs, with defaults from the
// environment (GANTRY_URL, GANTRY_TOKEN), so that flags win over it.
func (c *clientFlags) register(e *env, fs *flag.FlagSet) {
	server := e.getenv("GANTRY_URL")
	if server == "" {
		server = DefaultServer
	}
	fs.StringVar(&c.server, "server", server, "`URL` of the Gantry server (env GANTRY_URL)")
	fs.StringVar(&c.token, "token", e.getenv("GANTRY_TOKEN"), "bearer `token` (env GANTRY_TOKEN)")
	fs.BoolVar(&c.json, "json", false, "print the server's JSON as is")
}

// api talks to a Gantry server over HTTP.
type api struct {
	base  *url.URL
	token string
	hc    *http.Client
}

func (c *clientFlags) api() (*api, error) {
	u, err := url.Parse(strings.TrimRight(c.server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server %q: want an http:// or https:// URL", c.server)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	// A command makes a few requests at most, far apart when it waits:
	// nothing to gain from idle connections, and none left behind.
	tr.DisableKeepAlives = true
	// No overall timeout: long-polls and uploads take as long as they take;
	// commands bound their own waits with a context.
	return &api{base: u, token: c.token, hc: &http.Client{Transport: tr}}, nil
}

// problemError is an error answer of the server: an RFC 9457 problem, or
// whatever else came with a non-2xx status (then only Status is set).
type problemError struct {
	httpapi.Problem
	// RetryAfter is the answer's Retry-After header, "" without one.
	RetryAfter string
}

func (p *problemError) Error() string {
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	if msg == "" {
		msg = http.StatusText(p.Status)
	}
	if p.Code != "" {
		msg += " (" + p.Code + ")"
	} else {
		msg += fmt.Sprintf(" (HTTP %d)", p.Status)
	}
	if p.RetryAfter != "" {
		msg += "; retry after " + p.RetryAfter + "s"
	}
	return msg
}

func (p *problemError) exitCode() int {
	switch p.Status {
	case http.StatusNotFound:
		return exitNotFound
	case http.StatusConflict:
		return exitConflict
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return exitRejected
	}
	return exitFailure
}

// request is one call to the server.
type request struct {
	method string
	path   string // escaped, e.g. "/v1/jobs/" + url.PathEscape(id)
	query  url.Values
	body   io.Reader
	// length is the body's length, or -1 when unknown (sent chunked).
	length      int64
	contentType string
	// idempotencyKey, when set, is sent as the Idempotency-Key header.
	idempotencyKey string
	// accept is the Accept header; "" is application/json.
	accept string
}

// do sends req and returns the body of a 2xx answer, or a *problemError.
func (a *api) do(ctx context.Context, req *request) (*http.Response, []byte, error) {
	res, err := a.open(ctx, req)
	if err != nil {
		return res, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer to %s %s: %w", req.method, req.path, err)
	}
	return res, body, nil
}

// open sends req and returns a 2xx answer with its body still to read
// (close it), or a *problemError.
func (a *api) open(ctx context.Context, req *request) (*http.Response, error) {
	u := *a.base
	u.Path += req.path
	u.RawPath = ""
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), req.body)
	if err != nil {
		return nil, err
	}
	if req.body != nil {
		hr.ContentLength = req.length
		if req.length == 0 {
			hr.Body = http.NoBody
		}
		hr.Header.Set("Content-Type", req.contentType)
	}
	accept := req.accept
	if accept == "" {
		accept = "application/json"
	}
	hr.Header.Set("Accept", accept)
	hr.Header.Set("User-Agent", "gantry-cli/"+version())
	if req.idempotencyKey != "" {
		hr.Header.Set("Idempotency-Key", req.idempotencyKey)
	}
	if a.token != "" {
		hr.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("cannot reach the Gantry server at %s (is `gantry serve` running? set --server or GANTRY_URL): %v", a.base, op.Err)
		}
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		defer res.Body.Close()
		body, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
		if err != nil {
			return nil, fmt.Errorf("reading the answer to %s %s: %w", req.method, req.path, err)
		}
		p := &problemError{}
		if strings.Contains(res.Header.Get("Content-Type"), "json") {
			_ = json.Unmarshal(body, &p.Problem)
		}
		p.Status = res.StatusCode
		p.RetryAfter = res.Header.Get("Retry-After")
		return res, p
	}
	return res, nil
}

// call sends in (nil: no body) as JSON and decodes the answer into out
// (nil: not decoded). It returns the answer's body as it came.
func (a *api) call(ctx context.Context, method, path string, query url.Values, in, out any) ([]byte, error) {
	req := &request{method: method, path: path, query: query}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		req.body, req.length, req.contentType = bytes.NewReader(b), int64(len(b)), "application/json"
	}
	_, body, err := a.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return nil, fmt.Errorf("the answer to %s %s is not what this gantry expects: %w", method, path, err)
		}
	}
	return body, nil
}
