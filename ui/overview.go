package ui

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

// OverviewMaxAge is how old the overview may be before a request starts
// reading it afresh. Reading the queues costs a scan of the jobs on
// PostgreSQL (about 1 s with 1,000,000 jobs here, docs/benchmarks.md), so
// the overview is read at most once per OverviewMaxAge however many pages
// poll it, in the background, and every request is answered from the last
// reading at once.
const OverviewMaxAge = time.Second

// Overview is the answer of GET api/overview: the queues and the nodes,
// as GET /v1/queues and GET /v1/nodes answer, and when they were read.
type Overview struct {
	Queues []*httpapi.QueueResource `json:"queues"`
	Nodes  []httpapi.NodeResource   `json:"nodes"`
	// ReadAt is when the store was read; the answer may be up to
	// OverviewMaxAge older than the request, plus one reading.
	ReadAt time.Time `json:"read_at"`
}

// overview holds the last reading and refreshes it in the background.
type overview struct {
	api *httpapi.Server
	log *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	body       []byte // the last reading, encoded; nil before the first
	err        error  // the last reading's error, if it failed
	at         time.Time
	refreshing bool
	ready      chan struct{} // closed when a first reading is done
}

func newOverview(api *httpapi.Server, log *slog.Logger) *overview {
	o := &overview{api: api, log: log, ready: make(chan struct{})}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	return o
}

// get returns the last reading, starting a new one when it is older than
// OverviewMaxAge; before the first reading is done it waits for it.
func (o *overview) get(ctx context.Context) ([]byte, error) {
	o.mu.Lock()
	if !o.refreshing && time.Since(o.at) > OverviewMaxAge {
		o.refreshing = true
		o.wg.Add(1)
		go o.refresh()
	}
	ready := o.ready
	o.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-o.ctx.Done():
		return nil, context.Canceled
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.body, o.err
}

// refresh reads the queues and the nodes; one runs at a time.
func (o *overview) refresh() {
	defer o.wg.Done()
	ctx, cancel := context.WithTimeout(o.ctx, 30*time.Second)
	defer cancel()
	body, err := o.read(ctx)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refreshing = false
	o.at = time.Now()
	if err != nil {
		o.log.LogAttrs(ctx, slog.LevelWarn, "dashboard: reading the overview", slog.Any("error", err))
		if o.body == nil {
			o.err = err
		}
		// A failed reading is retried by the next request.
		o.at = time.Time{}
	} else {
		o.body, o.err = body, nil
	}
	select {
	case <-o.ready:
	default:
		if o.body != nil || o.err != nil {
			close(o.ready)
		}
	}
}

func (o *overview) read(ctx context.Context) ([]byte, error) {
	at := time.Now().UTC()
	qs, err := o.api.Queues(ctx)
	if err != nil {
		return nil, err
	}
	ns, err := o.api.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Overview{Queues: qs.Queues, Nodes: ns.Nodes, ReadAt: at})
}

// close stops a reading in progress and waits for it.
func (o *overview) close() {
	o.cancel()
	o.wg.Wait()
}

// serveOverview answers GET api/overview (scope read).
func (h *Handler) serveOverview(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.API.Authorize(w, r, httpapi.ScopeRead) {
		return
	}
	body, err := h.overview.get(r.Context())
	if err != nil {
		h.cfg.API.WriteError(w, r, err)
		return
	}
	writeBody(w, body)
}
