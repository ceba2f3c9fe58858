package gantry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/tracing"
	"github.com/gantry-dev/gantry/store/embedded"
)

func newTracer(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return exp, tp
}

// byName returns the spans named name.
func byName(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// A job enqueued through the Go API within a caller's span runs its two
// attempts (the first fails) in spans under its enqueue span, in the
// caller's trace, and each handler's context carries its attempt span.
func TestTraceOfAnInProcessJob(t *testing.T) {
	t.Parallel()
	exp, tp := newTracer(t)
	var mu sync.Mutex
	var seen []trace.SpanContext
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[greetArgs](func(ctx context.Context, task *gantry.Task[greetArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, trace.SpanContextFromContext(ctx))
		if len(seen) == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	}))
	c := setup(t, reg, &gantry.Config{TracerProvider: tp, Backoff: func(int) time.Duration { return time.Millisecond }})
	ctx, caller := tp.Tracer("test").Start(context.Background(), "caller")
	res, err := c.Enqueue(ctx, greetArgs{Name: "x"}, nil)
	caller.End()
	if err != nil {
		t.Fatal(err)
	}
	if j, err := c.Wait(context.Background(), res.Job.ID); err != nil || j.State != gantry.StateSucceeded {
		t.Fatalf("job: %+v, %v", j, err)
	}
	var attempts []tracetest.SpanStub
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if attempts = byName(exp.GetSpans(), tracing.SpanAttempt); len(attempts) == 2 {
			break
		}
	}
	spans := exp.GetSpans()
	enq := byName(spans, tracing.SpanEnqueue)
	if len(enq) != 1 || len(attempts) != 2 {
		t.Fatalf("%d enqueue spans and %d attempt spans; want 1 and 2", len(enq), len(attempts))
	}
	if enq[0].Parent.SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("the enqueue span's parent is %s, not the caller's span", enq[0].Parent.SpanID())
	}
	mu.Lock()
	defer mu.Unlock()
	for i, a := range attempts {
		if a.SpanContext.TraceID() != caller.SpanContext().TraceID() || a.Parent.SpanID() != enq[0].SpanContext.SpanID() {
			t.Errorf("attempt %d: trace %s parent %s; want trace %s under the enqueue span %s", i+1,
				a.SpanContext.TraceID(), a.Parent.SpanID(), caller.SpanContext().TraceID(), enq[0].SpanContext.SpanID())
		}
		if !seen[i].Equal(a.SpanContext) {
			t.Errorf("the handler of attempt %d ran with span %s, not its attempt span %s", i+1, seen[i].SpanID(), a.SpanContext.SpanID())
		}
	}
	if attempts[0].Status.Code.String() != "Error" || attempts[1].Status.Code.String() == "Error" {
		t.Errorf("attempt statuses %v, %v; want Error, then not", attempts[0].Status, attempts[1].Status)
	}
}

// A job leased to an external worker, failed and leased again, then
// completed, has two lease spans, a fail span and a complete span under its
// enqueue span.
func TestTraceOfALeasedJob(t *testing.T) {
	exp, tp := newTracer(t)
	c := leaseSetup(t, &gantry.Config{TracerProvider: tp})
	ctx := context.Background()
	res, err := c.Enqueue(ctx, remoteArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Workers()
	for i := range 2 {
		jobs, err := w.Lease(ctx, &gantry.LeaseParams{Max: 1, LeaseFor: time.Minute, Wait: 5 * time.Second})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("lease %d: %v, %v", i+1, jobs, err)
		}
		j := jobs[0]
		if i == 0 {
			_, err = w.Fail(ctx, &gantry.FailParams{ID: j.ID, LeaseToken: j.LeaseToken, Error: "no", RetryIn: time.Millisecond})
			// The retry must be due when the next lease looks: this client
			// runs no maintenance, so nothing would announce it coming due
			// during the lease's wait.
			time.Sleep(10 * time.Millisecond)
		} else {
			_, err = w.Complete(ctx, &gantry.CompleteParams{ID: j.ID, LeaseToken: j.LeaseToken})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	spans := exp.GetSpans()
	enq := byName(spans, tracing.SpanEnqueue)
	if len(enq) != 1 {
		t.Fatalf("%d enqueue spans", len(enq))
	}
	for name, n := range map[string]int{tracing.SpanLease: 2, tracing.SpanFail: 1, tracing.SpanComplete: 1} {
		got := byName(spans, name)
		if len(got) != n {
			t.Errorf("%d %s spans, want %d", len(got), name, n)
		}
		for _, s := range got {
			if s.Parent.SpanID() != enq[0].SpanContext.SpanID() || s.SpanContext.TraceID() != enq[0].SpanContext.TraceID() {
				t.Errorf("%s span is not under the enqueue span of job %s", name, res.Job.ID)
			}
		}
	}
}

// BenchmarkEnqueueTracing is Client.Enqueue of one job on the embedded
// store (fsynced), from 16 goroutines: off (the default: the global
// provider, no SDK installed) and on (an SDK provider sampling every span,
// exporting nowhere).
func BenchmarkEnqueueTracing(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		cfg := &gantry.Config{}
		if on {
			name = "on"
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
			defer tp.Shutdown(context.Background())
			cfg.TracerProvider = tp
		}
		b.Run(name, func(b *testing.B) {
			st, err := embedded.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			c, err := gantry.NewClient(st, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Enqueue(context.Background(), greetArgs{Name: "x"}, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
