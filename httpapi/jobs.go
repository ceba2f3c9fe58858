package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

// maxIDLen bounds a job id in a path; longer ids match no job.
const maxIDLen = 128

// maxCancelReason bounds the reason of a cancel request.
const maxCancelReason = 1024

// maxCursorLen bounds a list cursor.
const maxCursorLen = 1024

// pathID returns the job id of the request's path, or a 404 problem.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) {
		return "", errNotFound("job")
	}
	return id, nil
}

// notFoundJob turns ErrNotFound into a problem naming the job.
func notFoundJob(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return problemf(http.StatusNotFound, CodeNotFound, "job %s not found", truncate(id, maxIDLen))
	}
	return err
}

// getIn is a GET /v1/jobs/{id} request.
type getIn struct {
	r    *http.Request
	w    http.ResponseWriter
	id   string
	wait time.Duration
}

func (in *getIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.r, in.w = r, w
	var err error
	if in.id, err = pathID(r); err != nil {
		return err
	}
	q, err := queryValues(r, []string{"wait"})
	if err != nil {
		return err
	}
	in.wait, err = parseWait("wait", q.Get("wait"))
	return err
}

// get answers GET /v1/jobs/{id}; with ?wait= it long-polls: it answers as
// soon as the job is final, or with the job as it is when the wait ends (or
// the server drains).
func (s *Server) get(ctx context.Context, in *getIn) (*reply, error) {
	if in.wait <= 0 {
		j, err := s.client.Get(ctx, in.id)
		if err != nil {
			return nil, notFoundJob(in.id, err)
		}
		return &reply{status: http.StatusOK, body: jobResource(j)}, nil
	}
	release, err := s.longLived(in.r)
	if err != nil {
		return nil, err
	}
	defer release()
	_ = http.NewResponseController(in.w).SetWriteDeadline(time.Now().Add(in.wait + 10*time.Second))
	wctx, cancel := context.WithTimeout(ctx, in.wait)
	defer cancel()
	stop := context.AfterFunc(s.drainCtx, cancel)
	defer stop()
	var last *gantry.Job
	events, err := s.client.Watch(wctx, in.id)
	switch {
	case err == nil:
		for ev := range events {
			last = ev.Job
		}
	case errors.Is(err, gantry.ErrStopped), wctx.Err() != nil && ctx.Err() == nil:
		// No watch: answer with the job as it is.
	default:
		return nil, notFoundJob(in.id, err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if last == nil {
		if last, err = s.client.Get(ctx, in.id); err != nil {
			return nil, notFoundJob(in.id, err)
		}
	}
	return &reply{status: http.StatusOK, body: jobResource(last)}, nil
}

// eventsIn is a GET /v1/jobs/{id}/events or /v1/workflows/{id}/events
// request.
type eventsIn struct {
	r  *http.Request
	w  http.ResponseWriter
	id string
}

func (in *eventsIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.r, in.w = r, w
	var err error
	if in.id, err = pathID(r); err != nil {
		return err
	}
	_, err = queryValues(r, nil)
	return err
}

// events answers GET /v1/jobs/{id}/events with Server-Sent Events: one
// event per change of the job ("state" or "progress", the job resource as
// data, a counter as id), the first being the job as it is, until the job
// is final, the client goes away or the server drains. A comment keeps an
// idle stream open every KeepAliveInterval.
func (s *Server) events(ctx context.Context, in *eventsIn) (*reply, error) {
	release, err := s.longLived(in.r)
	if err != nil {
		return nil, err
	}
	defer release()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.drainCtx, cancel)
	defer stop()
	events, err := s.client.Watch(wctx, in.id)
	if err != nil {
		return nil, notFoundJob(in.id, err)
	}
	streamEvents(in.w, events, func(ev gantry.Event) (gantry.EventType, *gantry.Job, bool) {
		return ev.Type, ev.Job, ev.Job.State.Final()
	})
	return nil, nil
}

// streamEvents answers with Server-Sent Events, one per value of events
// (unpack gives its type, its job and whether it is the last), a comment
// every KeepAliveInterval, until events is closed, the last is sent or the
// client goes away.
func streamEvents[E any](w http.ResponseWriter, events <-chan E, unpack func(E) (gantry.EventType, *gantry.Job, bool)) {
	rc := http.NewResponseController(w)
	// A stream lasts as long as the job runs: no write deadline.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	keepAlive := time.NewTicker(KeepAliveInterval)
	defer keepAlive.Stop()
	for n := 1; ; {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			typ, j, last := unpack(ev)
			data, err := json.Marshal(jobResource(j))
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", n, typ, data); err != nil {
				return
			}
			n++
			if err := rc.Flush(); err != nil || last {
				return
			}
		case <-keepAlive.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// blobIn is a GET /v1/jobs/{id}/blob request.
type blobIn struct {
	w  http.ResponseWriter
	r  *http.Request
	id string
}

func (in *blobIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.w, in.r = w, r
	var err error
	if in.id, err = pathID(r); err != nil {
		return err
	}
	_, err = queryValues(r, nil)
	return err
}

// blob answers GET /v1/jobs/{id}/blob with the job's payload, streamed,
// with its Content-Type, Content-Length and ETag (its SHA-256). Ranges and
// conditional requests are served when the blob store's reader can seek.
// The payload is always an attachment, sandboxed, never a page of this
// origin.
func (s *Server) blob(ctx context.Context, in *blobIn) (*reply, error) {
	j, err := s.client.Get(ctx, in.id)
	if err != nil {
		return nil, notFoundJob(in.id, err)
	}
	if j.Blob == nil {
		return nil, problemf(http.StatusNotFound, CodeNotFound, "job %s has no blob", j.ID)
	}
	if s.cfg.Blobs == nil {
		return nil, problemf(http.StatusNotFound, CodeNotFound, "this server has no blob store to read job %s's blob from", j.ID)
	}
	rc, info, err := s.cfg.Blobs.Open(ctx, j.Blob.Key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, blob.ErrNotFound) {
			return nil, problemf(http.StatusNotFound, CodeNotFound, "the blob of job %s is gone", j.ID).withCause(err)
		}
		return nil, err
	}
	defer rc.Close()
	ct := j.Blob.ContentType
	if ct == "" && info != nil {
		ct = info.ContentType
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	size := j.Blob.Size
	if info != nil {
		size = info.Size
	}
	w, r := noStore{in.w}, in.r
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("ETag", `"`+j.Blob.SHA256+`"`)
	h.Set("Content-Disposition", "attachment")
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", j.CreatedAt, rs)
		return nil, nil
	}
	if match := r.Header.Get("If-None-Match"); match != "" && (match == h.Get("ETag") || match == "*") {
		w.WriteHeader(http.StatusNotModified)
		return nil, nil
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if _, err := io.Copy(w, rc); err != nil {
			s.log.DebugContext(ctx, "streaming a blob ended early", "job_id", j.ID, "error", err)
		}
	}
	return nil, nil
}

// listIn is a GET /v1/jobs request.
type listIn struct {
	p gantry.ListParams
}

func (in *listIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	q, err := queryValues(r, []string{"state", "kind", "queue", "parent_id", "workflow_id", "limit", "cursor"})
	if err != nil {
		return err
	}
	p := &in.p
	if st := q.Get("state"); st != "" {
		p.State = gantry.State(st)
		if !p.State.Valid() {
			return badField("state", "state must be one of %v, not %q", store.States, truncate(st, 40))
		}
	}
	p.Kind, p.Queue, p.ParentID, p.Cursor = q.Get("kind"), q.Get("queue"), q.Get("parent_id"), q.Get("cursor")
	if p.Kind != "" && !store.ValidName(p.Kind) {
		return badName("kind", "kind")
	}
	if p.Queue != "" && !store.ValidName(p.Queue) {
		return badName("queue", "queue")
	}
	if len(p.ParentID) > maxIDLen {
		return badField("parent_id", "parent_id is too long")
	}
	if p.WorkflowID = q.Get("workflow_id"); len(p.WorkflowID) > maxIDLen {
		return badField("workflow_id", "workflow_id is too long")
	}
	if len(p.Cursor) > maxCursorLen {
		return badField("cursor", "cursor is not one this server gave")
	}
	if p.Limit, err = queryInt(q, "limit"); err != nil {
		return err
	}
	if p.Limit < 0 {
		return badField("limit", "limit must not be negative")
	}
	p.Limit = min(p.Limit, store.MaxListLimit)
	return nil
}

// list answers GET /v1/jobs: newest first, a page at a time.
func (s *Server) list(ctx context.Context, in *listIn) (*reply, error) {
	res, err := s.client.List(ctx, &in.p)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) && in.p.Cursor != "" {
			return nil, badField("cursor", "cursor is not one this server gave").withCause(err)
		}
		return nil, err
	}
	out := JobList{Jobs: make([]*JobResource, len(res.Jobs)), NextCursor: res.Next}
	for i, j := range res.Jobs {
		out.Jobs[i] = jobResource(j)
	}
	return &reply{status: http.StatusOK, body: out}, nil
}

// CancelRequest is the optional JSON body of POST /v1/jobs/{id}/cancel.
type CancelRequest struct {
	// Reason is recorded as the job's cancel_reason.
	Reason string `json:"reason,omitempty"`
}

// cancelIn is a POST /v1/jobs/{id}/cancel request.
type cancelIn struct {
	id  string
	req CancelRequest
}

func (in *cancelIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	var err error
	if in.id, err = pathID(r); err != nil {
		return err
	}
	if err := bindOptionalJSON(s, w, r, &in.req); err != nil {
		return err
	}
	if len(in.req.Reason) > maxCancelReason {
		return invalidField("reason", "reason must be at most %d bytes", maxCancelReason)
	}
	return nil
}

// bindOptionalJSON decodes an optional JSON body (empty is fine) of a
// request without query parameters but those allowedQuery names.
func bindOptionalJSON(s *Server, w http.ResponseWriter, r *http.Request, v any, allowedQuery ...string) error {
	if _, err := queryValues(r, allowedQuery); err != nil {
		return err
	}
	body, err := readJSON(w, r, s.cfg.MaxJSONBody, true)
	if err != nil || body == nil {
		return err
	}
	return decodeStrict(body, v, "")
}

// cancel answers POST /v1/jobs/{id}/cancel: 200 with the cancelled job, 409
// when it is final already.
func (s *Server) cancel(ctx context.Context, in *cancelIn) (*reply, error) {
	j, err := s.client.Cancel(ctx, in.id, in.req.Reason)
	if err != nil {
		return nil, notFoundJob(in.id, err)
	}
	return &reply{status: http.StatusOK, body: jobResource(j)}, nil
}

// retryIn is a POST /v1/jobs/{id}/retry request; its body, if any, is an
// empty object.
type retryIn struct {
	id string
}

func (in *retryIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	var err error
	if in.id, err = pathID(r); err != nil {
		return err
	}
	var empty struct{}
	return bindOptionalJSON(s, w, r, &empty)
}

// retry answers POST /v1/jobs/{id}/retry: 200 with the job made available
// again, 409 unless it failed or was cancelled.
func (s *Server) retry(ctx context.Context, in *retryIn) (*reply, error) {
	j, err := s.client.Retry(ctx, in.id)
	if err != nil {
		return nil, notFoundJob(in.id, err)
	}
	return &reply{status: http.StatusOK, body: jobResource(j)}, nil
}

// noStore sets Cache-Control: no-store on whatever answer goes out through
// it, including the errors http.ServeContent writes (which drop the header
// otherwise): a payload is its owner's data, for no cache to keep.
type noStore struct{ http.ResponseWriter }

func (w noStore) WriteHeader(status int) {
	w.Header().Set("Cache-Control", "no-store")
	w.ResponseWriter.WriteHeader(status)
}

func (w noStore) Write(b []byte) (int, error) {
	if h := w.Header(); h.Get("Cache-Control") == "" { // a Write before WriteHeader
		h.Set("Cache-Control", "no-store")
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w noStore) Unwrap() http.ResponseWriter { return w.ResponseWriter }
