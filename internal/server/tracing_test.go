package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/tracing"
)

// One job's trace, as an in-memory exporter sees it: enqueued over HTTP
// by a caller with its own trace, pushed twice (the target fails the first
// push), every span of it in the caller's trace: the enqueue span under
// the HTTP server span, a lease, a push and an outcome span per attempt
// under the enqueue span, and each push's traceparent header naming its
// push span.
func TestTraceOfOneJob(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	var mu sync.Mutex
	var headers []string
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		headers = append(headers, r.Header.Get("traceparent"))
		n := len(headers)
		mu.Unlock()
		if n == 1 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"pushed":true}`)
	}))
	defer tg.Close()
	cfg := setup(t)
	cfg.Push = map[string]config.PushTarget{"thumbnail": {URL: tg.URL}}
	base := runWith(t, cfg, &server.Options{TracerProvider: tp})

	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/jobs", strings.NewReader(`{"kind":"thumbnail","args":{}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", caller)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("enqueue: %s", res.Status)
	}

	want := map[string]int{tracing.SpanEnqueue: 1, tracing.SpanLease: 2, tracing.SpanPush: 2,
		tracing.SpanFail: 1, tracing.SpanComplete: 1}
	var spans tracetest.SpanStubs
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans = exp.GetSpans()
		if got := count(spans); covers(got, want) || time.Now().After(deadline) {
			if !covers(got, want) {
				t.Fatalf("spans by name: %v; want at least %v", got, want)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	traceID := spans[0].SpanContext.TraceID()
	var server, enqueue trace.SpanContext
	pushes := map[string]bool{}
	for _, s := range spans {
		switch {
		case s.SpanKind == trace.SpanKindServer && s.Parent.SpanID().String() == "00f067aa0ba902b7":
			server = s.SpanContext
		case s.Name == tracing.SpanEnqueue:
			enqueue = s.SpanContext
		case s.Name == tracing.SpanPush:
			pushes[tracingParent(s.SpanContext)] = true
		}
	}
	if !server.IsValid() || server.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("no server span in the caller's trace: %+v", server)
	}
	traceID = server.TraceID()
	for _, s := range spans {
		if want[s.Name] > 0 && s.SpanContext.TraceID() != traceID {
			t.Errorf("span %s is in trace %s, not the caller's %s", s.Name, s.SpanContext.TraceID(), traceID)
		}
		switch s.Name {
		case tracing.SpanEnqueue:
			if s.Parent.SpanID() != server.SpanID() {
				t.Errorf("the enqueue span's parent is %s, not the HTTP server span %s", s.Parent.SpanID(), server.SpanID())
			}
		case tracing.SpanLease, tracing.SpanPush, tracing.SpanFail, tracing.SpanComplete:
			if s.Parent.SpanID() != enqueue.SpanID() {
				t.Errorf("span %s's parent is %s, not the enqueue span %s", s.Name, s.Parent.SpanID(), enqueue.SpanID())
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(headers) != 2 {
		t.Fatalf("the target got %d pushes, want 2", len(headers))
	}
	for i, h := range headers {
		if !pushes[h] {
			t.Errorf("push %d carried traceparent %q, which names no push span (%v)", i+1, h, pushes)
		}
	}
}

// tracingParent is the traceparent that names sc.
func tracingParent(sc trace.SpanContext) string {
	return tracing.TraceParent(trace.ContextWithSpanContext(context.Background(), sc))
}

func count(spans tracetest.SpanStubs) map[string]int {
	got := map[string]int{}
	for _, s := range spans {
		got[s.Name]++
	}
	return got
}

func covers(got, want map[string]int) bool {
	for k, n := range want {
		if got[k] < n {
			return false
		}
	}
	return true
}

// runWith is run with Options.
func runWith(t *testing.T, cfg *config.Serve, opts *server.Options) string {
	t.Helper()
	s, err := server.Open(t.Context(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return "http://" + s.Addr().String()
}
