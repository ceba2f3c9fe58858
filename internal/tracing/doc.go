// Package tracing makes Gantry's OpenTelemetry spans: a span per store
// call (Store, a store.Driver wrapper), an enqueue span whose context each
// new job keeps as its traceparent, spans in each job's trace for its
// leases and outcomes, an attempt span (Attempt) under the enqueue span,
// a server span per HTTP request (Handler) and the traceparent of
// outgoing requests (TraceParent).
//
// It only uses the trace.TracerProvider it is given; with the global
// default (no SDK installed) every span is a no-op. Exporting is the
// binary's business (internal/server).
package tracing
