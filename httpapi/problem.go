package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

// ProblemTypeBase prefixes the code of a problem to form its type URI.
const ProblemTypeBase = "https://gantry.dev/problems/"

// The stable codes of problems. A client branches on the code (or the type,
// which is ProblemTypeBase followed by the code), never on the detail.
const (
	CodeInvalidJSON          = "invalid_json"           // 400: the body is not JSON, not UTF-8, or nested too deeply
	CodeInvalidField         = "invalid_field"          // 400 when a field cannot be parsed; 422 when its value is not acceptable
	CodeUnknownField         = "unknown_field"          // 400: a body field or query parameter the endpoint does not know
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeBodyIncomplete       = "body_incomplete"        // 400: the body ended before its Content-Length; 408: an upload stalled
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeUnknownKind          = "unknown_kind"           // 422: the kind is not declared
	CodeNotFound             = "not_found"              // 404
	CodeConflict             = "conflict"               // 409: the job's state does not allow the change
	CodeLeaseLost            = "lease_lost"             // 409: the lease token is stale or wrong
	CodeIdempotencyConflict  = "idempotency_conflict"   // 409: the Idempotency-Key was used with another request
	CodeInvalidWorkflow      = "invalid_workflow"       // 422: a workflow's graph is not acceptable (names the ref, and the cycle)
	CodeUniqueKeyHeld        = "unique_key_held"        // 409: a job of a workflow has the unique key of an unfinished job (names the ref)
	CodeQueueFull            = "queue_full"             // 429
	CodeDraining             = "draining"               // 503
	CodeServerBusy           = "server_busy"            // 503: the server serves as many long-lived requests as it allows
	CodeStoreUnavailable     = "store_unavailable"      // 503
	CodeInsufficientStorage  = "insufficient_storage"   // 507: the server's disk is full
	CodeUnauthorized         = "unauthorized"           // 401
	CodeForbidden            = "forbidden"              // 403
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeInternal             = "internal"               // 500: the cause is logged, never sent
	// CodeClientClosedRequest is the code of a request whose client went
	// away before the answer (StatusClientClosedRequest). Nobody reads that
	// answer; the code keeps such requests apart from store outages in the
	// logs and the metrics.
	CodeClientClosedRequest = "client_closed_request"
)

// StatusClientClosedRequest is the status recorded for a request whose
// client went away before its answer: 499, after nginx, since HTTP has
// none for it.
const StatusClientClosedRequest = 499

// Problem is an RFC 9457 problem details object, the body of every error
// response (media type application/problem+json). Members after Instance
// are extensions set by some problems.
type Problem struct {
	// Type is ProblemTypeBase + Code.
	Type string `json:"type"`
	// Title is a short summary of the problem type.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence to a human.
	Detail string `json:"detail,omitempty"`
	// Code is the stable code of the problem type.
	Code string `json:"code"`
	// Field names the request field at fault, e.g. "jobs[3].kind" or
	// "args", when there is one.
	Field string `json:"field,omitempty"`
	// Instance is the path of the request.
	Instance string `json:"instance,omitempty"`

	// Queue is the queue of a queue_full problem.
	Queue string `json:"queue,omitempty"`
	// Limit is the admission limit of a queue_full problem.
	Limit *int64 `json:"limit,omitempty"`
	// Pending counts the non-final jobs of a queue_full problem's queue,
	// including those admitted but not yet counted by the store.
	Pending *int64 `json:"pending,omitempty"`
	// State is the job's state in a conflict or lease_lost problem.
	State string `json:"state,omitempty"`
	// Ref names the job of a workflow at fault (invalid_workflow,
	// unique_key_held).
	Ref string `json:"ref,omitempty"`
	// Cycle lists the refs around a dependency cycle of a workflow, the
	// first repeated at the end.
	Cycle []string `json:"cycle,omitempty"`
	// RetryAfter repeats the Retry-After header, in seconds.
	RetryAfter int `json:"retry_after,omitempty"`
}

var titles = map[string]string{
	CodeInvalidJSON:          "Malformed JSON body",
	CodeInvalidField:         "Invalid field",
	CodeUnknownField:         "Unknown field",
	CodeBodyTooLarge:         "Request body too large",
	CodeBodyIncomplete:       "Request body incomplete",
	CodeUnsupportedMediaType: "Unsupported media type",
	CodeUnknownKind:          "Unknown job kind",
	CodeNotFound:             "Not found",
	CodeConflict:             "Conflict with the job's state",
	CodeLeaseLost:            "Lease lost",
	CodeIdempotencyConflict:  "Idempotency key reused",
	CodeInvalidWorkflow:      "Invalid workflow",
	CodeUniqueKeyHeld:        "Unique key held",
	CodeQueueFull:            "Queue full",
	CodeDraining:             "Server draining",
	CodeServerBusy:           "Server busy",
	CodeStoreUnavailable:     "Store unavailable",
	CodeInsufficientStorage:  "Insufficient storage",
	CodeUnauthorized:         "Unauthorized",
	CodeForbidden:            "Forbidden",
	CodeMethodNotAllowed:     "Method not allowed",
	CodeInternal:             "Internal server error",
	CodeClientClosedRequest:  "Client closed request",
}

// apiError is an error a handler returns to answer with a problem. Its
// cause, if any, is logged and never sent.
type apiError struct {
	p          Problem
	retryAfter time.Duration
	allow      string // the Allow header of a 405
	cause      error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.p.Code, e.p.Detail, e.cause)
	}
	return e.p.Code + ": " + e.p.Detail
}

func (e *apiError) Unwrap() error { return e.cause }

// problemf returns an apiError with the given status, code and detail.
func problemf(status int, code, format string, args ...any) *apiError {
	return &apiError{p: Problem{Status: status, Code: code, Detail: fmt.Sprintf(format, args...)}}
}

// badField is a 400 about a field that cannot be parsed.
func badField(field, format string, args ...any) *apiError {
	e := problemf(http.StatusBadRequest, CodeInvalidField, format, args...)
	e.p.Field = field
	return e
}

// badName is a 400 about a field that is not a valid kind or queue name,
// in the words of store.NameRule; what names the value in the message.
func badName(field, what string) *apiError {
	return badField(field, "%s %s", what, store.NameRule)
}

// invalidField is a 422 about a field whose value is not acceptable.
func invalidField(field, format string, args ...any) *apiError {
	e := problemf(http.StatusUnprocessableEntity, CodeInvalidField, format, args...)
	e.p.Field = field
	return e
}

func (e *apiError) withRetry(d time.Duration) *apiError {
	e.retryAfter = d
	return e
}

func (e *apiError) withCause(err error) *apiError { e.cause = err; return e }

// InsufficientStorageRetryAfter is the Retry-After of a 507: freeing disk
// space takes a person, not a moment.
const InsufficientStorageRetryAfter = 30 * time.Second

// errInsufficientStorage is the problem of a full disk, under the store
// or the blob store.
func errInsufficientStorage() *apiError {
	return problemf(http.StatusInsufficientStorage, CodeInsufficientStorage,
		"the server's disk is full; nothing was stored. Free space on the disk that holds the server's data (or give it a larger one), then retry").
		withRetry(InsufficientStorageRetryAfter)
}

// errNotFound is the problem of a job that does not exist.
func errNotFound(what string) *apiError {
	return problemf(http.StatusNotFound, CodeNotFound, "%s not found", what)
}

// toAPIError maps an error from the client, the store or the blob store to
// the problem that answers it. batch says the request enqueued a batch, so
// that a *FieldError is named by its index.
func toAPIError(err error, batch bool) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	var fe *store.FieldError
	var te *store.TransitionError
	var ie *store.IdempotencyError
	switch {
	case errors.As(err, &mbe):
		return problemf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, blob.ErrTooLarge):
		return problemf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the payload is larger than this server accepts")
	case errors.As(err, &ie):
		return problemf(http.StatusConflict, CodeIdempotencyConflict,
			"the Idempotency-Key %q was used for a different request", ie.Key).withCause(err)
	case errors.As(err, &te):
		e := problemf(http.StatusConflict, CodeConflict, "job %s is %s and cannot become %s", te.ID, te.From, te.To)
		if te.Reason != "" {
			e.p.Detail += ": " + te.Reason
		}
		e.p.State = string(te.From)
		return e
	case errors.As(err, &fe):
		field := jsonField(fe.Field)
		if batch && fe.Index >= 0 {
			field = strings.TrimSuffix(fmt.Sprintf("jobs[%d].%s", fe.Index, field), ".")
		}
		return invalidField(field, "%s: %s", field, fe.Reason)
	case errors.Is(err, store.ErrInvalid):
		return problemf(http.StatusUnprocessableEntity, CodeInvalidField, "the request cannot be carried out: %v", err)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, blob.ErrNotFound):
		return problemf(http.StatusNotFound, CodeNotFound, "not found")
	case errors.Is(err, store.ErrLeaseLost):
		return problemf(http.StatusConflict, CodeLeaseLost,
			"the lease token is not the current one of this running job: the lease expired, the job was cancelled, or the token is wrong")
	case errors.Is(err, store.ErrConflict):
		return problemf(http.StatusConflict, CodeConflict, "the job's state does not allow this change").withCause(err)
	case errors.Is(err, store.ErrInsufficientStorage):
		// Before ErrUnavailable, which a store broken by a full disk
		// wraps too: this is the answer a person can act on.
		return errInsufficientStorage().withCause(err)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed),
		errors.Is(err, gantry.ErrStopped), errors.Is(err, context.DeadlineExceeded):
		// Only the store says it is unavailable: other I/O errors (a blob
		// store's, a syscall.Errno) are not an outage of the store. A
		// closed store or a stopped client is a server shutting down.
		return problemf(http.StatusServiceUnavailable, CodeStoreUnavailable, "the store is unavailable; try again later").
			withRetry(UnavailableRetryAfter).withCause(err)
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return problemf(StatusClientClosedRequest, CodeClientClosedRequest, "the client closed the request").withCause(err)
	}
	return problemf(http.StatusInternalServerError, CodeInternal, "an internal error occurred; it was logged").withCause(err)
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// writeProblem sends e as an application/problem+json response.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, e *apiError) {
	p := e.p
	p.Type = ProblemTypeBase + p.Code
	if p.Title == "" {
		p.Title = titles[p.Code]
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = r.URL.Path
	if e.cause != nil {
		lvl := s.logLevel(e)
		s.log.LogAttrs(r.Context(), lvl, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", p.Status), slog.String("code", p.Code), slog.Any("error", e.cause))
	}
	h := w.Header()
	if e.retryAfter > 0 {
		p.RetryAfter = retryAfterSeconds(e.retryAfter)
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="gantry"`)
	}
	if s.cfg.OnReject != nil {
		s.cfg.OnReject(p.Code)
	}
	writeJSON(w, p.Status, "application/problem+json", p)
}
