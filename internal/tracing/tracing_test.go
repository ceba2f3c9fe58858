package tracing_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gantry-dev/gantry/internal/tracing"
	"github.com/gantry-dev/gantry/store"
)

const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestTraceParentRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{tp, tp},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		{"", ""},
		{"garbage", ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""}, // zero trace id
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""}, // version ff is invalid
	}
	for _, c := range cases {
		if got := tracing.TraceParent(tracing.WithTraceParent(context.Background(), c.in)); got != c.want {
			t.Errorf("TraceParent(WithTraceParent(%q)) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzWithTraceParent: a stored or received traceparent never panics, and
// what it parses to prints back as a traceparent that parses the same.
func FuzzWithTraceParent(f *testing.F) {
	f.Add(tp)
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		out := tracing.TraceParent(tracing.WithTraceParent(context.Background(), s))
		if out == "" {
			return
		}
		if again := tracing.TraceParent(tracing.WithTraceParent(context.Background(), out)); again != out {
			t.Fatalf("%q parses to %q, which parses to %q", s, out, again)
		}
	})
}

// stub is a store whose Enqueue accepts everything without storing it.
type stub struct {
	store.Driver
	got []*store.NewJob
}

func (s *stub) Enqueue(_ context.Context, p *store.EnqueueParams) (*store.EnqueueResult, error) {
	s.got = p.Jobs
	res := &store.EnqueueResult{Jobs: make([]store.Enqueued, len(p.Jobs))}
	for i, nj := range p.Jobs {
		res.Jobs[i].Job = &store.Job{ID: "j", Kind: nj.Kind, Queue: nj.Queue, TraceParent: nj.TraceParent}
	}
	return res, nil
}

func TestEnqueueKeepsTheTraceContext(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer sdk.Shutdown(context.Background())
	tests := []struct {
		name string
		tp   trace.TracerProvider
		ctx  context.Context
		want func(*testing.T, string)
	}{
		{"off, no caller", noop.NewTracerProvider(), context.Background(), func(t *testing.T, got string) {
			if got != "" {
				t.Errorf("traceparent %q, want none", got)
			}
		}},
		{"off, a caller's context", noop.NewTracerProvider(), tracing.WithTraceParent(context.Background(), tp), func(t *testing.T, got string) {
			if got != tp {
				t.Errorf("traceparent %q, want the caller's %q", got, tp)
			}
		}},
		{"on", sdk, tracing.WithTraceParent(context.Background(), tp), func(t *testing.T, got string) {
			spans := exp.GetSpans()
			if len(spans) != 1 || spans[0].Name != tracing.SpanEnqueue {
				t.Fatalf("spans %v, want one enqueue span", spans)
			}
			if want := tracing.TraceParent(trace.ContextWithSpanContext(context.Background(), spans[0].SpanContext)); got != want {
				t.Errorf("traceparent %q, want the enqueue span's %q", got, want)
			}
		}},
	}
	for _, tc := range tests {
		s := &stub{}
		d := tracing.Store(s, tc.tp)
		nj := &store.NewJob{Kind: "k", Queue: "q"}
		kept := &store.NewJob{Kind: "k", Queue: "q", TraceParent: "00-11111111111111111111111111111111-2222222222222222-01"}
		if _, err := d.Enqueue(tc.ctx, &store.EnqueueParams{Jobs: []*store.NewJob{nj, kept}}); err != nil {
			t.Fatal(err)
		}
		t.Run(tc.name, func(t *testing.T) { tc.want(t, s.got[0].TraceParent) })
		if kept.TraceParent != "00-11111111111111111111111111111111-2222222222222222-01" {
			t.Errorf("%s: a job's own traceparent was replaced by %q", tc.name, kept.TraceParent)
		}
		if u, ok := store.As[*stub](d); !ok || u != s {
			t.Errorf("%s: store.As does not find the wrapped store", tc.name)
		}
	}
}

// Handler's server span is a child of the request's traceparent and is
// named by the route.
func TestHandler(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer sdk.Shutdown(context.Background())
	mux := http.NewServeMux()
	var inside trace.SpanContext
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		inside = trace.SpanContextFromContext(r.Context())
		json.NewEncoder(w).Encode(map[string]string{})
	})
	req := httptest.NewRequest(http.MethodPost, "/v1/jobs", strings.NewReader("{}"))
	req.Header.Set("traceparent", tp)
	tracing.Handler(mux, sdk).ServeHTTP(httptest.NewRecorder(), req)
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name != "POST /v1/jobs" || s.SpanKind != trace.SpanKindServer || s.Parent.SpanID().String() != "00f067aa0ba902b7" ||
		s.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !inside.Equal(s.SpanContext) {
		t.Errorf("server span %s (%v), parent %s, trace %s; handler saw %s", s.Name, s.SpanKind, s.Parent.SpanID(),
			s.SpanContext.TraceID(), inside.SpanID())
	}
}

// BenchmarkEnqueueSpan is the wrapper's cost on an Enqueue of one job to a
// store that does nothing: bare (no wrapper), off (the wrapper with a
// global provider with no SDK installed, the default) and on (an SDK provider that samples every
// span and exports nowhere).
func BenchmarkEnqueueSpan(b *testing.B) {
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer sdk.Shutdown(context.Background())
	for _, bc := range []struct {
		name string
		d    store.Driver
	}{
		{"bare", &stub{}},
		{"off", tracing.Store(&stub{}, nil)},
		{"on", tracing.Store(&stub{}, sdk)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				p := &store.EnqueueParams{Now: now, Jobs: []*store.NewJob{{Kind: "k", Queue: "q"}}}
				if _, err := bc.d.Enqueue(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
