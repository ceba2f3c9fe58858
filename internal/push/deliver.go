package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/tracing"
)

// Headers of a push request, besides SignatureHeader.
const (
	JobIDHeader   = "Gantry-Job-Id"
	AttemptHeader = "Gantry-Attempt"
	// TraceParentHeader carries the W3C trace context of the push.
	TraceParentHeader = "traceparent"
)

// Bounds of snoozing on overload.
const (
	// MaxRetryAfter bounds the Retry-After a target may ask for.
	MaxRetryAfter = 24 * time.Hour
	// overloadBackoffBase and overloadBackoffMax bound the snooze of an
	// overload answer without Retry-After: base doubled per overload in a
	// row at this target, at most max, with jitter.
	overloadBackoffBase = time.Second
	overloadBackoffMax  = time.Minute
	// errorSnippet is how much of an error answer's body goes into the
	// attempt's error.
	errorSnippet = 512
)

// Outcomes of a push, the outcome label of gantry_push_requests_total.
const (
	OutcomeSucceeded   = "succeeded"   // 200, 201, 204: the job succeeded
	OutcomeAccepted    = "accepted"    // 202: the target reports through the lease protocol
	OutcomeOverload    = "overload"    // 429, 503: snoozed, no attempt spent
	OutcomeRejected    = "rejected"    // any other 4xx, and 3xx (not followed): failed for good
	OutcomeError       = "error"       // other 5xx and 1xx/2xx not listed: retried
	OutcomeTimeout     = "timeout"     // no answer within the attempt's timeout: retried
	OutcomeUnreachable = "unreachable" // connection errors: retried
	OutcomeTooLarge    = "too_large"   // a body past max_response_bytes: retried
	OutcomeReleased    = "released"    // cut off by shutdown: the lease is given back
)

// result is how one push ended.
type result struct {
	outcome    string
	status     int
	body       json.RawMessage // the job's result on success
	retryAfter time.Duration   // for overload; 0: back off
	msg        string          // the attempt's error
	latency    time.Duration
}

// sample is what the result says of the target's health.
func (r *result) sample() Sample {
	switch r.outcome {
	case OutcomeOverload, OutcomeTimeout:
		return Sample{Latency: r.latency, Overload: true}
	case OutcomeSucceeded, OutcomeAccepted, OutcomeError:
		return Sample{Latency: r.latency}
	}
	return Sample{Ignore: true}
}

// send POSTs one job to t and says how it went. workCtx ends at a hard
// stop: the request is then cut off and the result is OutcomeReleased.
func (r *runner) send(workCtx context.Context, j *gantry.Job) *result {
	t := &r.t
	body, err := json.Marshal(httpapi.NewLeasedJob(j))
	if err != nil {
		panic(fmt.Sprintf("push: a job resource does not encode: %v", err))
	}
	timeout := t.Timeout
	if j.Timeout > 0 && j.Timeout < timeout {
		timeout = j.Timeout
	}
	ctx, cancel := context.WithTimeout(workCtx, timeout)
	defer cancel()
	tr := r.tracer
	if tr == nil {
		tr = tracing.Tracer(nil)
	}
	ctx, span := tracing.Push(ctx, tr, j, t.Name)
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		// The URL was checked when the target was made.
		panic(fmt.Sprintf("push: target %s: %v", t.Name, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gantry-push")
	req.Header.Set(JobIDHeader, j.ID)
	req.Header.Set(AttemptHeader, strconv.Itoa(j.Attempt))
	if tp := tracing.TraceParent(ctx); tp != "" {
		// The push span's, or with tracing off the enqueuer's, as kept
		// with the job.
		req.Header.Set(TraceParentHeader, tp)
	}
	start := r.now()
	if len(t.Secrets) > 0 {
		req.Header.Set(SignatureHeader, Sign(t.Secrets, start, body))
	}
	resp, err := r.http.Do(req)
	res := r.answer(ctx, resp, err)
	res.latency = r.now().Sub(start)
	span.SetAttributes(tracing.AttrOutcome.String(res.outcome), attribute.Int("http.response.status_code", res.status))
	if res.outcome != OutcomeSucceeded && res.outcome != OutcomeAccepted {
		span.SetStatus(codes.Error, res.msg)
	}
	if res.outcome != OutcomeSucceeded && workCtx.Err() != nil {
		return &result{outcome: OutcomeReleased, latency: res.latency}
	}
	return res
}

// answer reads the answer of a push.
func (r *runner) answer(ctx context.Context, resp *http.Response, err error) *result {
	t := &r.t
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return &result{outcome: OutcomeTimeout, msg: fmt.Sprintf("push to %s: no answer within the attempt's timeout", t.Name)}
		}
		return &result{outcome: OutcomeUnreachable, msg: fmt.Sprintf("push to %s: %v", t.Name, scrub(err))}
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, t.MaxResponseBytes+1))
	switch {
	case int64(len(b)) > t.MaxResponseBytes:
		return &result{outcome: OutcomeTooLarge, status: resp.StatusCode,
			msg: fmt.Sprintf("push to %s: the answer (%d) has a body larger than max_response_bytes %d", t.Name, resp.StatusCode, t.MaxResponseBytes)}
	case rerr != nil && ctx.Err() != nil:
		return &result{outcome: OutcomeTimeout, status: resp.StatusCode, msg: fmt.Sprintf("push to %s: the answer did not end within the attempt's timeout", t.Name)}
	case rerr != nil:
		return &result{outcome: OutcomeUnreachable, status: resp.StatusCode, msg: fmt.Sprintf("push to %s: reading the answer: %v", t.Name, rerr)}
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusOK || code == http.StatusCreated || code == http.StatusNoContent:
		return &result{outcome: OutcomeSucceeded, status: code, body: resultOf(resp.Header.Get("Content-Type"), b)}
	case code == http.StatusAccepted:
		return &result{outcome: OutcomeAccepted, status: code}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return &result{outcome: OutcomeOverload, status: code, retryAfter: retryAfter(resp.Header.Get("Retry-After"), r.now()),
			msg: fmt.Sprintf("push to %s: the target answered %d (overloaded)", t.Name, code)}
	case code >= 300 && code < 400:
		return &result{outcome: OutcomeRejected, status: code,
			msg: fmt.Sprintf("push to %s: the target answered %d; redirects are not followed, fix the target's url", t.Name, code)}
	case code >= 400 && code < 500:
		return &result{outcome: OutcomeRejected, status: code, msg: fmt.Sprintf("push to %s: the target answered %d%s", t.Name, code, snippet(b))}
	}
	return &result{outcome: OutcomeError, status: code, msg: fmt.Sprintf("push to %s: the target answered %d%s", t.Name, code, snippet(b))}
}

// scrub removes the URL from a transport error: it may carry credentials.
func scrub(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && strings.HasPrefix(err.Error(), "Post ") {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// resultOf is the job's result from a success's body: JSON as it is (with
// a JSON content type, or none), anything else as a JSON string; nil for
// an empty body.
func resultOf(contentType string, b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	isJSON := contentType == "" || mt == "application/json" || strings.HasSuffix(mt, "+json")
	if isJSON && json.Valid(b) {
		return json.RawMessage(b)
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	out, _ := json.Marshal(s)
	return out
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > errorSnippet {
		s = s[:errorSnippet] + "..."
	}
	return ": " + strings.ToValidUTF8(s, "\uFFFD")
}

// retryAfter reads a Retry-After header, seconds or an HTTP date; 0 when
// absent or unreadable. It is at most MaxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		d = time.Duration(min(n, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// overloadBackoff is the snooze of the n'th overload in a row without
// Retry-After.
func overloadBackoff(n int) time.Duration {
	d := overloadBackoffBase << min(n, 10)
	d = min(d, overloadBackoffMax)
	return d/2 + rand.N(d/2+1)
}
