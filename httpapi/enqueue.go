package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
)

// Headers of the enqueue routes.
const (
	// HeaderIdempotencyKey makes an enqueue idempotent: a repeat with the
	// same key and the same request answers what the first call answered,
	// without creating jobs; the same key with another request is 409.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed is "true" on the answer to a repeated Idempotency-Key.
	HeaderReplayed = "Idempotent-Replayed"
	// HeaderDuplicate is "true" on the answer to POST /v1/jobs when the
	// job's unique_key matched an unfinished job: the answer is that job,
	// and no job was created. Batch answers do not carry it.
	HeaderDuplicate = "Gantry-Duplicate"
)

// UploadKeyPrefix begins the blob key of every upload (a binary POST
// /v1/jobs), followed by the upload's id: a UUIDv7 made when the upload
// began, so the key tells when that was. A job created from the upload is
// newer than that id.
const UploadKeyPrefix = "uploads/"

// maxIdempotencyKey bounds the length of an Idempotency-Key.
const maxIdempotencyKey = 255

// blobCleanupTimeout bounds deleting an upload that no job refers to.
const blobCleanupTimeout = 30 * time.Second

// JobRequest is the JSON body of POST /v1/jobs and one element of a batch.
// Durations are Go duration strings ("30s", "2m"); run_at is RFC 3339.
// Priority and MaxAttempts are pointers so that a zero that was sent is
// refused rather than taken for "the default", which is what absent means.
type JobRequest struct {
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue,omitempty"`
	Args        json.RawMessage `json:"args,omitempty"`
	Priority    *int            `json:"priority,omitempty"`
	Delay       string          `json:"delay,omitempty"`
	RunAt       string          `json:"run_at,omitempty"`
	MaxAttempts *int            `json:"max_attempts,omitempty"`
	Timeout     string          `json:"timeout,omitempty"`
	UniqueKey   string          `json:"unique_key,omitempty"`
	DependsOn   []string        `json:"depends_on,omitempty"`
	ParentID    string          `json:"parent_id,omitempty"`
}

// BatchRequest is the JSON body of POST /v1/jobs/batch.
type BatchRequest struct {
	Jobs []JobRequest `json:"jobs"`
}

// spec converts a request into a job spec. Fields that do not parse are
// 400 problems named with prefix; the client checks the rest.
func (s *Server) spec(j *JobRequest, prefix string) (gantry.JobSpec, error) {
	opts := &gantry.EnqueueOpts{
		Queue:     j.Queue,
		UniqueKey: j.UniqueKey,
		DependsOn: j.DependsOn,
		ParentID:  j.ParentID,
	}
	var err error
	if opts.Priority, err = inRange(prefix+"priority", j.Priority, gantry.MinPriority, gantry.MaxPriority); err != nil {
		return gantry.JobSpec{}, err
	}
	if opts.MaxAttempts, err = inRange(prefix+"max_attempts", j.MaxAttempts, 1, store.MaxMaxAttempts); err != nil {
		return gantry.JobSpec{}, err
	}
	if opts.Delay, err = parseDuration(prefix+"delay", j.Delay); err != nil {
		return gantry.JobSpec{}, err
	}
	if opts.RunAt, err = parseTime(prefix+"run_at", j.RunAt); err != nil {
		return gantry.JobSpec{}, err
	}
	if opts.Timeout, err = parseDuration(prefix+"timeout", j.Timeout); err != nil {
		return gantry.JobSpec{}, err
	}
	args := j.Args
	if t := bytes.TrimSpace(args); len(t) == 0 || string(t) == "null" {
		args = nil
	}
	if store.ValidName(j.Kind) && !s.kindAllowed(j.Kind) {
		e := problemf(http.StatusUnprocessableEntity, CodeUnknownKind, "kind %q is not declared on this server", j.Kind)
		e.p.Field = prefix + "kind"
		return gantry.JobSpec{}, e
	}
	return gantry.JobSpec{Kind: j.Kind, Args: args, Opts: opts}, nil
}

// enqueued is what an enqueue answer says of one job: all of it, unless
// the job is a unique_key duplicate (another caller's job, perhaps from
// another queue) and the token may not read jobs, when it names the job
// and its state only (JobSummary).
func (s *Server) enqueued(r *http.Request, e gantry.Enqueued) any {
	if e.Duplicate && !s.mayRead(r) {
		return &JobSummary{ID: e.Job.ID, Kind: e.Job.Kind, Queue: e.Job.Queue, State: e.Job.State}
	}
	return jobResource(e.Job)
}

// inRange returns *v, or 0 (the default) when v is nil; a value that was
// sent must be between lo and hi, or it is a 422 naming field.
func inRange(field string, v *int, lo, hi int) (int, error) {
	switch {
	case v == nil:
		return 0, nil
	case *v < lo || *v > hi:
		return 0, invalidField(field, "%s must be between %d and %d, not %d", field, lo, hi, *v)
	}
	return *v, nil
}

// kindAllowed reports whether kind may be enqueued: any kind unless kinds
// are declared (Config.DeclaredKinds, or the registry's with StrictKinds).
func (s *Server) kindAllowed(kind string) bool {
	return s.kinds == nil || s.kinds[kind]
}

// declaredKinds returns the kinds that may be enqueued, or nil for any.
func declaredKinds(cfg *Config) map[string]bool {
	kinds := slices.Clone(cfg.DeclaredKinds)
	if cfg.StrictKinds {
		kinds = append(kinds, cfg.Client.Kinds()...)
	}
	if len(kinds) == 0 {
		return nil
	}
	set := make(map[string]bool, len(kinds))
	for _, k := range kinds {
		set[k] = true
	}
	return set
}

// enqueueIn is a POST /v1/jobs request: JSON, or a binary payload whose
// body is streamed to the blob store later, in run.
type enqueueIn struct {
	r        *http.Request
	w        http.ResponseWriter
	binary   bool
	job      JobRequest
	body     []byte
	idemKey  string
	mediaTyp string
}

func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values(HeaderIdempotencyKey)
	if len(vs) == 0 {
		return "", nil
	}
	k := vs[0]
	if len(vs) > 1 || k == "" || len(k) > maxIdempotencyKey {
		return "", badField(HeaderIdempotencyKey, "the %s header must be given once, 1-%d characters", HeaderIdempotencyKey, maxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", badField(HeaderIdempotencyKey, "the %s header must be printable ASCII", HeaderIdempotencyKey)
		}
	}
	return k, nil
}

func (in *enqueueIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.r, in.w = r, w
	var err error
	if in.idemKey, err = idempotencyKey(r); err != nil {
		return err
	}
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	in.mediaTyp = mt
	switch {
	case mt == formType || mt == "multipart/form-data":
		return errForm()
	case isJSONType(mt):
		if _, err := queryValues(r, nil); err != nil {
			return err
		}
		if in.body, err = readJSON(w, r, s.cfg.MaxJSONBody, false); err != nil {
			return err
		}
		return decodeStrict(in.body, &in.job, "")
	}
	in.binary = true
	if s.cfg.Blobs == nil {
		return problemf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"this server has no blob store, so it takes no %s payloads; send the job as JSON (application/json)", truncate(mt, 100))
	}
	return in.bindQuery(r)
}

// blobQuery lists the query parameters of a binary enqueue.
var blobQuery = []string{"kind", "queue", "args", "priority", "delay", "run_at", "max_attempts",
	"timeout", "unique_key", "depends_on", "parent_id"}

func (in *enqueueIn) bindQuery(r *http.Request) error {
	q, err := queryValues(r, blobQuery, "depends_on")
	if err != nil {
		return err
	}
	j := &in.job
	j.Kind, j.Queue, j.Delay, j.RunAt = q.Get("kind"), q.Get("queue"), q.Get("delay"), q.Get("run_at")
	j.Timeout, j.UniqueKey, j.ParentID = q.Get("timeout"), q.Get("unique_key"), q.Get("parent_id")
	if j.Priority, err = queryOptInt(q, "priority"); err != nil {
		return err
	}
	if j.MaxAttempts, err = queryOptInt(q, "max_attempts"); err != nil {
		return err
	}
	for _, v := range q["depends_on"] {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				j.DependsOn = append(j.DependsOn, id)
			}
		}
	}
	if a := q.Get("args"); a != "" {
		if err := checkJSONText([]byte(a)); err != nil {
			return badField("args", "args must be a JSON object")
		}
		if !json.Valid([]byte(a)) {
			return badField("args", "args must be a JSON object")
		}
		j.Args = json.RawMessage(a)
	}
	return nil
}

// enqueue answers POST /v1/jobs.
func (s *Server) enqueue(ctx context.Context, in *enqueueIn) (*reply, error) {
	spec, err := s.spec(&in.job, "")
	if err != nil {
		return nil, err
	}
	queue := queueOf(spec)
	res, err := s.admitted(ctx, map[string]int{queue: 1}, func(opts *gantry.BatchOpts) (*gantry.BatchResult, error) {
		if !in.binary {
			if opts != nil {
				opts.RequestHash = requestHash(in.r, "", sha256.Sum256(in.body))
			}
			return s.client.EnqueueBatch(ctx, []gantry.JobSpec{spec}, opts)
		}
		return s.enqueueWithBlob(ctx, in, spec, opts)
	}, in.idemKey)
	if err != nil {
		return nil, err
	}
	e := res.Jobs[0]
	rep := &reply{status: http.StatusAccepted, header: http.Header{}, body: s.enqueued(in.r, e)}
	rep.header.Set("Location", "/v1/jobs/"+url.PathEscape(e.Job.ID))
	if e.Duplicate {
		rep.header.Set(HeaderDuplicate, "true")
	}
	if res.Replayed {
		rep.header.Set(HeaderReplayed, "true")
	}
	return rep, nil
}

// admitted runs enqueue under admission control, with the idempotency key
// if there is one, and settles the reservation with what was created.
func (s *Server) admitted(ctx context.Context, counts map[string]int,
	enqueue func(*gantry.BatchOpts) (*gantry.BatchResult, error), idemKey string) (*gantry.BatchResult, error) {
	res, err := s.adm.admit(ctx, counts)
	if err != nil {
		return nil, err
	}
	var opts *gantry.BatchOpts
	if idemKey != "" {
		opts = &gantry.BatchOpts{IdempotencyKey: idemKey, KeepFor: s.cfg.IdempotencyTTL}
	}
	out, err := enqueue(opts)
	if err != nil {
		res.settle(nil)
		return nil, err
	}
	created := make(map[string]int, len(counts))
	if !out.Replayed {
		for _, e := range out.Jobs {
			if !e.Duplicate {
				created[e.Job.Queue]++
			}
		}
	}
	res.settle(created)
	return out, nil
}

func queueOf(spec gantry.JobSpec) string {
	if spec.Opts != nil && spec.Opts.Queue != "" {
		return spec.Opts.Queue
	}
	return gantry.DefaultQueue
}

// requestHash identifies a request for its Idempotency-Key: method, path,
// query, the media type of a binary payload ("" for JSON) and the SHA-256
// of the body.
func requestHash(r *http.Request, mediaType string, bodySum [sha256.Size]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", r.Method, r.URL.Path, r.URL.RawQuery, mediaType)
	h.Write(bodySum[:])
	return hex.EncodeToString(h.Sum(nil))
}

// enqueueWithBlob streams the body to the blob store, then enqueues the
// job referring to it. The upload is deleted when no job refers to it: the
// enqueue failed, matched a unique_key, or replayed an idempotency key.
func (s *Server) enqueueWithBlob(ctx context.Context, in *enqueueIn, spec gantry.JobSpec, opts *gantry.BatchOpts) (*gantry.BatchResult, error) {
	limit := s.cfg.MaxBlobBody
	if in.r.ContentLength > limit {
		return nil, problemf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the payload is larger than %d bytes", limit)
	}
	release, err := s.longLived(in.r)
	if err != nil {
		return nil, err
	}
	defer release()
	// An upload takes as long as the client needs, as long as bytes keep
	// coming: the server's read deadline, meant for JSON bodies, gives way
	// to an idle deadline that each read extends.
	body := &uploadBody{r: in.r.Body, rc: http.NewResponseController(in.w), idle: s.cfg.UploadIdleTimeout}
	key := UploadKeyPrefix + store.NewID()
	ct := in.r.Header.Get("Content-Type")
	info, err := s.cfg.Blobs.Put(ctx, key, http.MaxBytesReader(in.w, body, limit), ct, limit)
	if err != nil {
		return nil, s.uploadError(ctx, body, limit, err)
	}
	// The job keeps the media type the client sent, even where the blob
	// store recorded a default for an empty one.
	info.ContentType = ct
	spec.Opts.Blob = info
	if opts != nil {
		sum, _ := hex.DecodeString(info.SHA256)
		var bs [sha256.Size]byte
		copy(bs[:], sum)
		opts.RequestHash = requestHash(in.r, in.mediaTyp, bs)
	}
	res, err := s.client.EnqueueBatch(ctx, []gantry.JobSpec{spec}, opts)
	if err != nil || res.Replayed || res.Jobs[0].Duplicate {
		s.deleteBlob(ctx, key)
	}
	return res, err
}

// uploadError is the problem of a failed upload. What the client did is
// told apart from what the blob store did by the error the body's reads
// returned: a body that ended before its Content-Length is a 400, one that
// stalled a 408 (both body_incomplete), one whose connection was reset or
// closed is the client gone (499); only the rest is the blob store's.
func (s *Server) uploadError(ctx context.Context, body *uploadBody, limit int64, err error) error {
	var mbe *http.MaxBytesError
	rerr := body.err
	switch {
	case errors.As(err, &mbe):
		return problemf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the payload is larger than %d bytes", limit)
	case errors.Is(rerr, io.ErrUnexpectedEOF):
		return problemf(http.StatusBadRequest, CodeBodyIncomplete, "the payload ended before its Content-Length").withCause(err)
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		return problemf(http.StatusRequestTimeout, CodeBodyIncomplete,
			"the upload stalled: no byte came for %v", body.idle).withCause(err)
	case rerr != nil, ctx.Err() != nil:
		return problemf(StatusClientClosedRequest, CodeClientClosedRequest, "the client closed the request during the upload").withCause(err)
	}
	return toAPIError(err, false)
}

// uploadBody reads an upload's body with an idle deadline: each Read may
// wait at most idle for the next bytes (the deadline moves on with
// progress and is never lifted; zero: no deadline). It records the first
// error a Read returned other than io.EOF, so that a failed Put can tell
// the client's fault from the blob store's.
type uploadBody struct {
	r    io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	err  error
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if b.idle > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	} else {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *uploadBody) Close() error { return b.r.Close() }

// deleteBlob removes an upload no job refers to.
func (s *Server) deleteBlob(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), blobCleanupTimeout)
	defer cancel()
	if err := s.cfg.Blobs.Delete(ctx, key); err != nil {
		s.log.WarnContext(ctx, "deleting an unreferenced upload failed", "blob_key", key, "error", err)
	}
}

// batchIn is a POST /v1/jobs/batch request.
type batchIn struct {
	r       *http.Request
	specs   []gantry.JobSpec
	counts  map[string]int
	hash    string
	idemKey string
}

func (in *batchIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.r = r
	var err error
	if in.idemKey, err = idempotencyKey(r); err != nil {
		return err
	}
	if _, err := queryValues(r, nil); err != nil {
		return err
	}
	body, err := readJSON(w, r, s.cfg.MaxJSONBody, false)
	if err != nil {
		return err
	}
	in.hash = requestHash(r, "", sha256.Sum256(body))
	var raw struct {
		Jobs []json.RawMessage `json:"jobs"`
	}
	if err := decodeStrict(body, &raw, ""); err != nil {
		return err
	}
	switch {
	case raw.Jobs == nil:
		return invalidField("jobs", "jobs must list the jobs to enqueue")
	case len(raw.Jobs) == 0:
		return invalidField("jobs", "jobs must list at least one job")
	case len(raw.Jobs) > MaxBatchJobs:
		return invalidField("jobs", "jobs must list at most %d jobs", MaxBatchJobs)
	}
	in.specs = make([]gantry.JobSpec, len(raw.Jobs))
	in.counts = make(map[string]int)
	for i, b := range raw.Jobs {
		prefix := "jobs[" + strconv.Itoa(i) + "]."
		var j JobRequest
		if err := decodeStrict(b, &j, prefix); err != nil {
			return err
		}
		if in.specs[i], err = s.spec(&j, prefix); err != nil {
			return err
		}
		in.counts[queueOf(in.specs[i])]++
	}
	return nil
}

// enqueueBatch answers POST /v1/jobs/batch: all jobs or none.
func (s *Server) enqueueBatch(ctx context.Context, in *batchIn) (*reply, error) {
	res, err := s.admitted(ctx, in.counts, func(opts *gantry.BatchOpts) (*gantry.BatchResult, error) {
		if opts != nil {
			opts.RequestHash = in.hash
		}
		return s.client.EnqueueBatch(ctx, in.specs, opts)
	}, in.idemKey)
	if err != nil {
		return nil, toAPIError(err, true)
	}
	out := struct {
		Jobs []any `json:"jobs"` // JobBatch's, with JobSummary for duplicates
	}{Jobs: make([]any, len(res.Jobs))}
	for i, e := range res.Jobs {
		out.Jobs[i] = s.enqueued(in.r, e)
	}
	rep := &reply{status: http.StatusAccepted, header: http.Header{}, body: out}
	if res.Replayed {
		rep.header.Set(HeaderReplayed, "true")
	}
	return rep, nil
}
