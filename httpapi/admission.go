package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/gantry-dev/gantry"
)

// admissionTimeout bounds the store read behind an admission decision.
const admissionTimeout = 5 * time.Second

// admission keeps queues under their MaxPending limits. It counts the
// non-final jobs of each queue from a snapshot of Client.Queues, reread at
// most every AdmissionRefresh by one request at a time, plus the jobs this
// server admitted since the snapshot was taken. A request over a limit is
// refused at once (429), never held until there is room.
type admission struct {
	cfg    *Config
	client *gantry.Client

	mu         sync.Mutex
	pending    map[string]int64 // non-final jobs per queue, as of snapAt
	snapAt     time.Time        // zero before the first snapshot
	admitted   map[string]int64 // reserved or admitted since the snapshot began
	rates      map[string]*drainRate
	refreshing chan struct{} // closed when the refresh under way ends
}

func newAdmission(cfg *Config) *admission {
	return &admission{
		cfg:      cfg,
		client:   cfg.Client,
		pending:  make(map[string]int64),
		admitted: make(map[string]int64),
		rates:    make(map[string]*drainRate),
	}
}

// reservation holds the admitted jobs of one request until it knows how
// many it created.
type reservation struct {
	a      *admission
	counts map[string]int
}

// settle gives back the reserved jobs that were not created: all of them
// when created is nil.
func (r *reservation) settle(created map[string]int) {
	if r == nil || r.a == nil {
		return
	}
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	for q, n := range r.counts {
		back := int64(n - created[q])
		if back > 0 {
			r.a.admitted[q] = max(r.a.admitted[q]-back, 0)
		}
	}
	r.a = nil
}

// admit reserves room for counts[q] new jobs in each queue q, or refuses
// with a queue_full problem naming the first full queue.
func (a *admission) admit(ctx context.Context, counts map[string]int) (*reservation, error) {
	limited := false
	for q := range counts {
		if a.cfg.limitFor(q) > 0 {
			limited = true
			break
		}
	}
	if !limited {
		return &reservation{}, nil
	}
	a.refresh(ctx)

	a.mu.Lock()
	defer a.mu.Unlock()
	queues := make([]string, 0, len(counts))
	for q := range counts {
		queues = append(queues, q)
	}
	sort.Strings(queues)
	for _, q := range queues {
		limit := int64(a.cfg.limitFor(q))
		if limit <= 0 {
			continue
		}
		pending := a.pending[q] + a.admitted[q]
		n := int64(counts[q])
		if pending+n <= limit {
			continue
		}
		if n > limit {
			// Waiting would never help.
			e := problemf(http.StatusUnprocessableEntity, CodeInvalidField,
				"the request puts %d jobs in queue %q, more than its limit of %d unfinished jobs: split it", n, q, limit)
			e.p.Field, e.p.Queue, e.p.Limit = "jobs", q, &limit
			return nil, e
		}
		rate, known := 0.0, false
		if d := a.rates[q]; d != nil {
			rate, known = d.rate()
		}
		wait := retryAfter(pending+n-limit, rate, known)
		e := problemf(http.StatusTooManyRequests, CodeQueueFull,
			"queue %q holds %d unfinished jobs and its limit is %d; retry later", q, pending, limit).withRetry(wait)
		e.p.Queue, e.p.Limit, e.p.Pending = q, &limit, &pending
		return nil, e
	}
	for q, n := range counts {
		a.admitted[q] += int64(n)
	}
	return &reservation{a: a, counts: counts}, nil
}

// refresh rereads the queue counts when the snapshot is older than
// AdmissionRefresh. One caller reads while the others go on with the
// snapshot they have (or wait for the first one). A failed read keeps the
// old snapshot: admission then errs on the side of admitting.
func (a *admission) refresh(ctx context.Context) {
	a.mu.Lock()
	now := a.cfg.Now()
	if !a.snapAt.IsZero() && now.Sub(a.snapAt) < a.cfg.AdmissionRefresh {
		a.mu.Unlock()
		return
	}
	if a.refreshing != nil {
		wait := a.refreshing
		first := a.snapAt.IsZero()
		a.mu.Unlock()
		if first {
			select {
			case <-wait:
			case <-ctx.Done():
			}
		}
		return
	}
	done := make(chan struct{})
	a.refreshing = done
	base := make(map[string]int64, len(a.admitted))
	for q, n := range a.admitted {
		base[q] = n
	}
	a.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), admissionTimeout)
	infos, err := a.client.Queues(rctx)
	cancel()

	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshing = nil
	close(done)
	if err != nil {
		a.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "admission: reading queue counts failed", slog.Any("error", err))
		return
	}
	a.observeLocked(a.cfg.Now(), infos)
	// Jobs admitted before the read began are in the snapshot now (or
	// were never created); those admitted during it may be counted twice
	// until the next refresh, which errs on the side of refusing.
	for q, n := range base {
		a.admitted[q] = max(a.admitted[q]-n, 0)
		if a.admitted[q] == 0 {
			delete(a.admitted, q)
		}
	}
}

// observe records a snapshot of the queues taken at at, for the drain
// rates (GET /v1/queues feeds it too).
func (a *admission) observe(at time.Time, infos []gantry.QueueInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, qi := range infos {
		a.rateLocked(qi.Name).add(at, finishedCount(qi))
	}
}

func (a *admission) observeLocked(at time.Time, infos []gantry.QueueInfo) {
	clear(a.pending)
	for _, qi := range infos {
		a.pending[qi.Name] = pendingCount(qi)
		a.rateLocked(qi.Name).add(at, finishedCount(qi))
	}
	a.snapAt = at
}

func (a *admission) rateLocked(q string) *drainRate {
	d := a.rates[q]
	if d == nil {
		d = &drainRate{}
		a.rates[q] = d
	}
	return d
}

// rate returns the drain rate of queue q, if known.
func (a *admission) rate(q string) (float64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d := a.rates[q]; d != nil {
		return d.rate()
	}
	return 0, false
}

// pendingCount is the number of non-final jobs of a queue.
func pendingCount(qi gantry.QueueInfo) int64 {
	var n int64
	for st, c := range qi.Counts {
		if !st.Final() {
			n += c
		}
	}
	return n
}

// finishedCount is the number of final jobs of a queue.
func finishedCount(qi gantry.QueueInfo) int64 {
	var n int64
	for st, c := range qi.Counts {
		if st.Final() {
			n += c
		}
	}
	return n
}
