package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

const enqueueHelp = `
Enqueues a job of kind KIND and prints its id. With --file, the file is
uploaded as the job's binary payload (streamed, with its content type) and
the job refers to it. With --wait, waits until the job is final and exits 6
if it failed or was cancelled; on a terminal, a line on stderr shows the
job's state and progress meanwhile.

The server runs two kinds itself, to try things out:
  gantry.sleep   args {"ms": N}: sleeps N milliseconds, result {"slept_ms": N}
  gantry.echo    any args: the result is the args

Examples:
  gantry enqueue gantry.sleep --args '{"ms":1500}' --wait
  gantry enqueue thumbnail --file cat.png --args '{"width":256}' --queue images
  gantry enqueue report --args '{"month":"2026-11"}' --unique-key report-2026-11 --delay 10m`

// enqueueFlags are the flags of `gantry enqueue`.
type enqueueFlags struct {
	client      clientFlags
	args        string
	file        string
	contentType string
	queue       string
	priority    int
	delay       time.Duration
	uniqueKey   string
	maxAttempts int
	timeout     time.Duration
	idemKey     string
	wait        bool
	waitTimeout time.Duration
	// given names the flags given on the command line, so that a
	// --priority 0 is sent (and refused) rather than taken for "unset".
	given map[string]bool
}

func (f *enqueueFlags) register(e *env, fs *flag.FlagSet) {
	f.client.register(e, fs)
	fs.StringVar(&f.args, "args", "", "the job's args, a JSON `object` (default {})")
	fs.StringVar(&f.file, "file", "", "upload this `path` as the job's payload (- for standard input)")
	fs.StringVar(&f.contentType, "content-type", "", "media `type` of --file (default: from the file name, or sniffed)")
	fs.StringVar(&f.queue, "queue", "", "the job's `queue` (default: default)")
	fs.IntVar(&f.priority, "priority", 0, "`priority` from 1 (first) to 9 (last) (default 5)")
	fs.DurationVar(&f.delay, "delay", 0, "run the job no sooner than this `duration` from now")
	fs.StringVar(&f.uniqueKey, "unique-key", "", "at most one unfinished job with this `key`: a second enqueue returns the first")
	fs.IntVar(&f.maxAttempts, "max-attempts", 0, "attempts the job gets (default: the server's)")
	fs.DurationVar(&f.timeout, "timeout", 0, "limit on each attempt (default: the server's)")
	fs.StringVar(&f.idemKey, "idempotency-key", "", "`key` that makes a retried enqueue return the first answer")
	fs.BoolVar(&f.wait, "wait", false, "wait until the job is final; exit 6 if it failed or was cancelled")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", 0, "with --wait, give up after this `duration` (default: no limit)")
}

func (f *enqueueFlags) check() error {
	if f.args != "" && !isJSONObject(f.args) {
		return usageErrorf("--args must be a JSON object, e.g. '{\"ms\":1000}'")
	}
	if f.delay < 0 || f.timeout < 0 || f.waitTimeout < 0 {
		return usageErrorf("durations must not be negative")
	}
	return nil
}

// job returns the job the flags describe, of the given kind.
func (f *enqueueFlags) job(kind string) *httpapi.JobRequest {
	j := &httpapi.JobRequest{
		Kind:      kind,
		Queue:     f.queue,
		UniqueKey: f.uniqueKey,
	}
	if f.given["priority"] {
		j.Priority = &f.priority
	}
	if f.given["max-attempts"] {
		j.MaxAttempts = &f.maxAttempts
	}
	if f.args != "" {
		j.Args = json.RawMessage(f.args)
	}
	if f.delay > 0 {
		j.Delay = f.delay.String()
	}
	if f.timeout > 0 {
		j.Timeout = f.timeout.String()
	}
	return j
}

// nameFlag prefixes a problem about a field of the job with the flag that
// set it (--priority for "priority"), so that the server's bounds, which
// the CLI does not repeat, read as an answer to the command line.
func (f *enqueueFlags) nameFlag(err error) error {
	var pe *problemError
	if !errors.As(err, &pe) || pe.Field == "" {
		return err
	}
	name := strings.ReplaceAll(pe.Field, "_", "-")
	if !f.given[name] {
		return err
	}
	return fmt.Errorf("--%s: %w", name, err)
}

func isJSONObject(s string) bool {
	var v map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &v) == nil && v != nil
}

func runEnqueue(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "enqueue", "KIND", enqueueHelp)
	var f enqueueFlags
	f.register(e, fs)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	a, err := f.client.api()
	if err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	var (
		res  *http.Response
		body []byte
	)
	if f.file != "" {
		res, body, err = uploadJob(ctx, e, a, &upload{job: f.job(pos[0]), path: f.file, contentType: f.contentType, idemKey: f.idemKey})
	} else {
		res, body, err = postJob(ctx, a, f.job(pos[0]), f.idemKey)
	}
	if err != nil {
		return f.nameFlag(err)
	}
	return enqueued(ctx, e, a, &f, res, body)
}

// postJob enqueues j as JSON, with an Idempotency-Key when idemKey is set.
func postJob(ctx context.Context, a *api, j *httpapi.JobRequest, idemKey string) (*http.Response, []byte, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return nil, nil, err
	}
	// Members in sorted order, as the CLI has always sent them: the
	// server compares the bytes of a request repeated with the same
	// Idempotency-Key, and answers 409 to any other body.
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, nil, err
	}
	if b, err = json.Marshal(members); err != nil {
		return nil, nil, err
	}
	return a.do(ctx, &request{method: http.MethodPost, path: "/v1/jobs", body: bytes.NewReader(b), length: int64(len(b)),
		contentType: "application/json", idempotencyKey: idemKey})
}

// enqueued reports the answer to an enqueue: the job's id (or the server's
// JSON with --json), or, with --wait, the job once it is final.
func enqueued(ctx context.Context, e *env, a *api, f *enqueueFlags, res *http.Response, body []byte) error {
	var j httpapi.JobResource
	if err := json.Unmarshal(body, &j); err != nil {
		return fmt.Errorf("the answer to the enqueue is not a job: %w", err)
	}
	if f.wait {
		if !f.client.json {
			fmt.Fprintf(e.stderr, "enqueued %s, waiting...\n", j.ID)
		}
		return waitJob(ctx, e, a, j.ID, f.waitTimeout, f.client.json)
	}
	if f.client.json {
		_, err := e.stdout.Write(body)
		return err
	}
	if res.Header.Get(httpapi.HeaderDuplicate) == "true" {
		fmt.Fprintf(e.stdout, "%s\t(already enqueued with unique key %q: %s)\n", j.ID, j.UniqueKey, j.State)
		return nil
	}
	fmt.Fprintf(e.stdout, "%s\n", j.ID)
	return nil
}

// upload is a job whose payload is a file, for uploadJob.
type upload struct {
	job         *httpapi.JobRequest
	path        string // - for standard input
	contentType string // "": from the file name, or sniffed
	idemKey     string // "": no Idempotency-Key
}

// uploadJob enqueues up.job with the file as its payload, streamed, and
// the job's fields in the query.
func uploadJob(ctx context.Context, e *env, a *api, up *upload) (*http.Response, []byte, error) {
	f, length, err := openPayload(e, up.path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	contentType, r, err := payloadType(f, up.path, up.contentType)
	if err != nil {
		return nil, nil, err
	}
	return a.do(ctx, &request{method: http.MethodPost, path: "/v1/jobs", query: jobQuery(up.job),
		body: r, length: length, contentType: contentType, idempotencyKey: up.idemKey})
}

// openPayload opens the file at path, or standard input for -, and returns
// its length, -1 when unknown.
func openPayload(e *env, path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(e.stdin), -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, &exitError{code: exitUsage, err: fmt.Errorf("--file: %w", err)}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, usageErrorf("--file %s is not a regular file", path)
	}
	return f, st.Size(), nil
}

// payloadType returns the media type of the payload r read from path:
// contentType if set, else from the file name, else sniffed from its first
// bytes, with a reader that still starts at the first byte. A type the
// server would read as the job itself is a usage error.
func payloadType(r io.Reader, path, contentType string) (string, io.Reader, error) {
	if contentType == "" && path != "-" {
		contentType = mime.TypeByExtension(filepath.Ext(path))
	}
	if contentType == "" {
		// Sniff the first bytes, then send them ahead of the rest.
		head := make([]byte, 512)
		n, err := io.ReadFull(r, head)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return "", nil, fmt.Errorf("--file: %w", err)
		}
		head = head[:n]
		contentType = http.DetectContentType(head)
		r = io.MultiReader(bytes.NewReader(head), r)
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "application/x-www-form-urlencoded" || strings.HasPrefix(mt, "multipart/") {
		return "", nil, usageErrorf("--file: a %s payload would be read as the job itself, not as its payload; "+
			"pass JSON with --args, or set --content-type application/octet-stream", mt)
	}
	return contentType, r, nil
}

// jobQuery returns j as the query of an upload: POST /v1/jobs with a
// binary body takes the job's fields as parameters.
func jobQuery(j *httpapi.JobRequest) url.Values {
	q := url.Values{"kind": {j.Kind}}
	for k, v := range map[string]string{
		"args":         string(j.Args),
		"queue":        j.Queue,
		"priority":     optInt(j.Priority),
		"delay":        j.Delay,
		"unique_key":   j.UniqueKey,
		"max_attempts": optInt(j.MaxAttempts),
		"timeout":      j.Timeout,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// nonZero formats n, or returns "" for zero.
func nonZero(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// optInt formats *n, or returns "" for nil.
func optInt(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}
