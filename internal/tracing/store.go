package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-dev/gantry/store"
)

// Store returns d with a span for each of its calls, from tp (the global
// provider when nil). Enqueue's span is the enqueue span: each new job
// without a TraceParent gets the span's, so that its attempts join the
// enqueuer's trace. Claim and Finish also add a span to the trace of each
// job they lease or finish (SpanLease, SpanComplete, SpanFail,
// SpanFinish), when their own span is recorded; a Claim that leased
// nothing has no span. The wrapper gives d back
// with Unwrap, so store.As finds every optional capability of d through
// it.
func Store(d store.Driver, tp trace.TracerProvider) store.Driver {
	return &traced{Driver: d, tr: Tracer(tp)}
}

var producer = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}

type traced struct {
	store.Driver
	tr trace.Tracer
}

// Unwrap returns the store that was wrapped.
func (s *traced) Unwrap() store.Driver { return s.Driver }

func (s *traced) start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return s.tr.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// end records err, if any, on span and ends it.
func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (s *traced) Enqueue(ctx context.Context, p *store.EnqueueParams) (_ *store.EnqueueResult, err error) {
	// No attribute is built before the span is known to be recorded: with
	// tracing off this costs only the no-op span.
	ctx, span := s.tr.Start(ctx, SpanEnqueue, producer...)
	defer func() { end(span, err) }()
	if span.IsRecording() {
		span.SetAttributes(AttrJobs.Int(len(p.Jobs)))
	}
	if tp := format(span.SpanContext()); tp != "" {
		for _, nj := range p.Jobs {
			if nj.TraceParent == "" {
				nj.TraceParent = tp
			}
		}
	}
	res, err := s.Driver.Enqueue(ctx, p)
	if err == nil && span.IsRecording() {
		span.SetAttributes(AttrReplayed.Bool(res.Replayed))
		if len(res.Jobs) == 1 {
			j := res.Jobs[0]
			span.SetAttributes(AttrJobID.String(j.Job.ID), AttrKind.String(j.Job.Kind), AttrQueue.String(j.Job.Queue),
				AttrDupe.Bool(j.Duplicate))
		}
	}
	return res, err
}

// Claim's span is recorded only for a claim that leased jobs or failed:
// the fetchers' empty polls would drown the traces.
func (s *traced) Claim(ctx context.Context, p *store.ClaimParams) (*store.ClaimResult, error) {
	began := time.Now()
	res, err := s.Driver.Claim(ctx, p)
	if err == nil && len(res.Jobs) == 0 {
		return res, err
	}
	ctx, span := s.tr.Start(ctx, SpanStore+"Claim", trace.WithTimestamp(began),
		trace.WithAttributes(AttrQueue.String(p.Queue)))
	if err == nil && span.IsRecording() {
		span.SetAttributes(AttrJobs.Int(len(res.Jobs)))
		for _, j := range res.Jobs {
			s.inJobTrace(ctx, j, SpanLease, began, nil)
		}
	}
	end(span, err)
	return res, err
}

func (s *traced) Finish(ctx context.Context, p *store.FinishParams) (_ *store.FinishResult, err error) {
	ctx, span := s.start(ctx, SpanStore+"Finish", trace.SpanKindInternal, AttrJobs.Int(len(p.Items)))
	defer func() { end(span, err) }()
	began := time.Now()
	res, err := s.Driver.Finish(ctx, p)
	if err == nil && span.IsRecording() {
		for i, j := range res.Jobs {
			if j == nil {
				continue
			}
			name := SpanFinish
			switch p.Items[i].Outcome {
			case store.OutcomeSucceeded:
				name = SpanComplete
			case store.OutcomeFailed:
				name = SpanFail
			}
			var msg error
			if e := p.Items[i].Error; e != nil && name == SpanFail {
				msg = attemptError(e.Message)
			}
			s.inJobTrace(ctx, j, name, began, msg, AttrOutcome.String(string(p.Items[i].Outcome)))
		}
	}
	return res, err
}

type attemptError string

func (e attemptError) Error() string { return string(e) }

// inJobTrace records a span from began to now in the trace of j (the
// span its TraceParent names), linked to the store call's span in ctx.
func (s *traced) inJobTrace(ctx context.Context, j *store.Job, name string, began time.Time, err error, attrs ...attribute.KeyValue) {
	if j.TraceParent == "" {
		return
	}
	parent := WithTraceParent(context.WithoutCancel(ctx), j.TraceParent)
	_, span := s.tr.Start(parent, name, trace.WithTimestamp(began), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithLinks(trace.LinkFromContext(ctx)), trace.WithAttributes(append(jobAttrs(j), attrs...)...))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (s *traced) Get(ctx context.Context, id string) (_ *store.Job, err error) {
	ctx, span := s.start(ctx, SpanStore+"Get", trace.SpanKindInternal, AttrJobID.String(id))
	defer func() { end(span, err) }()
	return s.Driver.Get(ctx, id)
}

func (s *traced) List(ctx context.Context, p *store.ListParams) (_ *store.ListResult, err error) {
	ctx, span := s.start(ctx, SpanStore+"List", trace.SpanKindInternal)
	defer func() { end(span, err) }()
	return s.Driver.List(ctx, p)
}

func (s *traced) Heartbeat(ctx context.Context, p *store.HeartbeatParams) (_ *store.Job, err error) {
	ctx, span := s.start(ctx, SpanStore+"Heartbeat", trace.SpanKindInternal, AttrJobID.String(p.ID))
	defer func() { end(span, err) }()
	return s.Driver.Heartbeat(ctx, p)
}

func (s *traced) Cancel(ctx context.Context, p *store.CancelParams) (_ *store.Job, err error) {
	ctx, span := s.start(ctx, SpanStore+"Cancel", trace.SpanKindInternal, AttrJobID.String(p.ID))
	defer func() { end(span, err) }()
	return s.Driver.Cancel(ctx, p)
}

func (s *traced) Retry(ctx context.Context, p *store.RetryParams) (_ *store.Job, err error) {
	ctx, span := s.start(ctx, SpanStore+"Retry", trace.SpanKindInternal, AttrJobID.String(p.ID))
	defer func() { end(span, err) }()
	return s.Driver.Retry(ctx, p)
}

// The maintenance calls (Rescue, Promote, Prune) run every few seconds
// on the leader: like Claim, they have a span only when they changed
// something or failed.

func (s *traced) Rescue(ctx context.Context, p *store.RescueParams) (*store.RescueResult, error) {
	began := time.Now()
	res, err := s.Driver.Rescue(ctx, p)
	if err != nil || len(res.Jobs) > 0 {
		s.after(ctx, "Rescue", began, err, func() int { return len(res.Jobs) })
	}
	return res, err
}

func (s *traced) Promote(ctx context.Context, p *store.PromoteParams) (*store.PromoteResult, error) {
	began := time.Now()
	res, err := s.Driver.Promote(ctx, p)
	if err != nil || res.Promoted > 0 {
		s.after(ctx, "Promote", began, err, func() int { return res.Promoted })
	}
	return res, err
}

func (s *traced) Prune(ctx context.Context, p *store.PruneParams) (*store.PruneResult, error) {
	began := time.Now()
	res, err := s.Driver.Prune(ctx, p)
	if err != nil || res.Deleted > 0 {
		s.after(ctx, "Prune", began, err, func() int { return res.Deleted })
	}
	return res, err
}

// after records the span of a store call that began at began and has just
// returned err; n, called only without an error, counts the jobs it
// touched.
func (s *traced) after(ctx context.Context, method string, began time.Time, err error, n func() int) {
	_, span := s.tr.Start(ctx, SpanStore+method, trace.WithTimestamp(began))
	if err == nil {
		span.SetAttributes(AttrJobs.Int(n()))
	}
	end(span, err)
}

func (s *traced) Queues(ctx context.Context) (_ []store.QueueInfo, err error) {
	ctx, span := s.start(ctx, SpanStore+"Queues", trace.SpanKindInternal)
	defer func() { end(span, err) }()
	return s.Driver.Queues(ctx)
}

func (s *traced) PauseQueue(ctx context.Context, p *store.PauseParams) (err error) {
	ctx, span := s.start(ctx, SpanStore+"PauseQueue", trace.SpanKindInternal)
	defer func() { end(span, err) }()
	return s.Driver.PauseQueue(ctx, p)
}

func (s *traced) Ping(ctx context.Context) (err error) {
	ctx, span := s.start(ctx, SpanStore+"Ping", trace.SpanKindInternal)
	defer func() { end(span, err) }()
	return s.Driver.Ping(ctx)
}
