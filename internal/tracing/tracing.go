package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-dev/gantry/store"
)

// ScopeName is the instrumentation scope of Gantry's spans.
const ScopeName = "github.com/gantry-dev/gantry"

// Span names.
const (
	SpanEnqueue  = "gantry.enqueue"  // a Driver.Enqueue call: the enqueue span of the HTTP and Go APIs
	SpanAttempt  = "gantry.attempt"  // an in-process handler's run
	SpanLease    = "gantry.lease"    // a job claimed (leased), in the job's trace
	SpanComplete = "gantry.complete" // an attempt's success recorded, in the job's trace
	SpanFail     = "gantry.fail"     // an attempt's failure recorded, in the job's trace
	SpanFinish   = "gantry.finish"   // another outcome recorded (snoozed, cancelled, released...)
	SpanPush     = "gantry.push"     // a push request to a target
	// SpanStore prefixes the span of every other store call:
	// "gantry.store.Claim", "gantry.store.Get"...
	SpanStore = "gantry.store."
)

// Attribute keys.
const (
	AttrJobID    = attribute.Key("gantry.job.id")
	AttrKind     = attribute.Key("gantry.job.kind")
	AttrQueue    = attribute.Key("gantry.queue")
	AttrAttempt  = attribute.Key("gantry.job.attempt")
	AttrOutcome  = attribute.Key("gantry.outcome")
	AttrJobs     = attribute.Key("gantry.jobs")
	AttrTarget   = attribute.Key("gantry.push.target")
	AttrDupe     = attribute.Key("gantry.job.duplicate")
	AttrReplayed = attribute.Key("gantry.enqueue.replayed")
)

// Tracer returns Gantry's tracer from tp, or from the global provider
// when tp is nil.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName)
}

var traceContext = propagation.TraceContext{}

// TraceParent returns the W3C traceparent of the span in ctx, or "" when
// ctx holds no valid span context.
func TraceParent(ctx context.Context) string {
	return format(trace.SpanContextFromContext(ctx))
}

func format(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// WithTraceParent returns ctx with the remote span context tp parses to,
// or ctx itself when tp is empty or not a valid traceparent.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// Attempt starts the span of one in-process attempt of j, a child of the
// enqueue span that j.TraceParent names (so that the attempt joins the
// enqueuer's trace however much later it runs), or of the span in ctx
// when j has none. end records the handler's error and ends the span.
func Attempt(ctx context.Context, tr trace.Tracer, j *store.Job) (_ context.Context, end func(error)) {
	ctx, span := tr.Start(WithTraceParent(ctx, j.TraceParent), SpanAttempt,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(jobAttrs(j)...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// Push starts the client span of a push of j to target, in j's trace.
func Push(ctx context.Context, tr trace.Tracer, j *store.Job, target string) (context.Context, trace.Span) {
	return tr.Start(WithTraceParent(ctx, j.TraceParent), SpanPush, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(jobAttrs(j), AttrTarget.String(target))...))
}

func jobAttrs(j *store.Job) []attribute.KeyValue {
	return []attribute.KeyValue{AttrJobID.String(j.ID), AttrKind.String(j.Kind), AttrQueue.String(j.Queue),
		AttrAttempt.Int(j.Attempt)}
}

// Handler returns h with a server span for every request, a child of the
// request's traceparent header when it has one, so that an HTTP enqueue
// joins its caller's trace. The span is named by the route the
// http.ServeMux matched ("POST /v1/jobs").
func Handler(h http.Handler, tp trace.TracerProvider) http.Handler {
	tr := Tracer(tp)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tr.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path)))
		defer span.End()
		r = r.WithContext(ctx)
		h.ServeHTTP(w, r)
		if r.Pattern != "" {
			span.SetName(r.Pattern)
			span.SetAttributes(attribute.String("http.route", r.Pattern))
		}
	})
}
