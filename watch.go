package gantry

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// watchPoll is how often a watch reads the job when the store sends no
// change notifications.
const watchPoll = 200 * time.Millisecond

// hub fans the store's change notifications out to the watches of single
// jobs and to the external workers waiting for a queue (Workers.Lease). It
// subscribes once, when the first of them comes. Its notify function runs
// on the store's goroutine and never blocks: a watch whose buffer is full is
// marked lagged and reads the job afresh.
type hub struct {
	st  store.Driver
	now func() time.Time

	ctx    context.Context // ends every watch when the client stops
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	watches     map[string]map[*watch]struct{}
	waiters     map[string]map[chan struct{}]struct{} // by queue
	anyWaiters  map[chan struct{}]struct{}            // woken by every change of state
	subscribed  bool
	notifies    bool
	unsubscribe func()
	closed      bool
}

type watch struct {
	changes chan store.Change
	lagged  chan struct{} // a change was dropped
}

func newHub(st store.Driver, now func() time.Time) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &hub{
		st: st, now: now, ctx: ctx, cancel: cancel,
		watches: make(map[string]map[*watch]struct{}),
		waiters: make(map[string]map[chan struct{}]struct{}),

		anyWaiters: make(map[chan struct{}]struct{}),
	}
}

// waitAny returns a channel that receives a value when any job changes
// state, whether the store announces changes at all (if not, the caller
// must poll), and a function that ends the wait.
func (h *hub) waitAny() (wake <-chan struct{}, notifies bool, stop func(), err error) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false, nil, ErrStopped
	}
	notifies = h.subscribe()
	h.anyWaiters[ch] = struct{}{}
	return ch, notifies, func() {
		h.mu.Lock()
		delete(h.anyWaiters, ch)
		h.mu.Unlock()
	}, nil
}

// subscribe subscribes the hub to the store's notifications, once, and
// reports whether the store sends them. h.mu is held.
func (h *hub) subscribe() bool {
	if !h.subscribed {
		h.subscribed = true
		if n, ok := store.As[store.Notifier](h.st); ok {
			h.notifies = true
			h.unsubscribe = n.Notify(h.publish)
		}
	}
	return h.notifies
}

// waitQueue returns a channel that receives a value when a job of queue
// becomes available, whether the store announces that at all (if not, the
// caller must poll), and a function that ends the wait.
func (h *hub) waitQueue(queue string) (wake <-chan struct{}, notifies bool, stop func(), err error) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false, nil, ErrStopped
	}
	notifies = h.subscribe()
	if h.waiters[queue] == nil {
		h.waiters[queue] = make(map[chan struct{}]struct{})
	}
	h.waiters[queue][ch] = struct{}{}
	return ch, notifies, func() {
		h.mu.Lock()
		delete(h.waiters[queue], ch)
		if len(h.waiters[queue]) == 0 {
			delete(h.waiters, queue)
		}
		h.mu.Unlock()
	}, nil
}

func (h *hub) publish(changes []store.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.anyWaiters) > 0 {
		for _, c := range changes {
			if !c.Progress {
				for ch := range h.anyWaiters {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
				break
			}
		}
	}
	for _, c := range changes {
		if c.State == store.StateAvailable {
			for ch := range h.waiters[c.Queue] {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
		for w := range h.watches[c.ID] {
			select {
			case w.changes <- c:
			default:
				select {
				case w.lagged <- struct{}{}:
				default:
				}
			}
		}
	}
}

// start runs fn on a goroutine the hub waits for when it closes, unless it
// is closed already (then it reports false).
func (h *hub) start(fn func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn()
	}()
	return true
}

func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	unsub := h.unsubscribe
	h.unsubscribe = nil
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	if unsub != nil {
		unsub()
	}
}

func (h *hub) watch(ctx context.Context, id string) (<-chan Event, error) {
	w := &watch{changes: make(chan store.Change, 64), lagged: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrStopped
	}
	notifies := h.subscribe()
	if h.watches[id] == nil {
		h.watches[id] = make(map[*watch]struct{})
	}
	h.watches[id][w] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()

	// Registered before the first read, so no change falls between them.
	j, err := h.st.Get(ctx, id)
	if err != nil {
		h.drop(id, w)
		h.wg.Done()
		return nil, err
	}
	out := make(chan Event, 16)
	go func() {
		defer h.wg.Done()
		defer close(out)
		defer h.drop(id, w)
		h.follow(ctx, id, j, w, notifies, out)
	}()
	return out, nil
}

func (h *hub) drop(id string, w *watch) {
	h.mu.Lock()
	delete(h.watches[id], w)
	if len(h.watches[id]) == 0 {
		delete(h.watches, id)
	}
	h.mu.Unlock()
}

// follow sends the job's events until it is final or the watch ends.
func (h *hub) follow(ctx context.Context, id string, j *Job, w *watch, notifies bool, out chan<- Event) {
	var ticker <-chan time.Time
	if !notifies {
		t := time.NewTicker(watchPoll)
		defer t.Stop()
		ticker = t.C
	}
	last := j
	if !h.send(ctx, out, Event{Type: EventState, Job: j}) || j.State.Final() {
		return
	}
	reread := func() (*Job, bool) {
		j, err := h.st.Get(ctx, id)
		if err != nil {
			// A deleted job or a closed store ends the watch.
			return nil, errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrClosed) || ctx.Err() != nil
		}
		return j, false
	}
	for {
		var next *Job
		select {
		case <-ctx.Done():
			return
		case <-h.ctx.Done():
			return
		case c := <-w.changes:
			next = c.Job
			if next == nil {
				var stop bool
				if next, stop = reread(); stop {
					return
				}
			}
		case <-w.lagged:
			for len(w.changes) > 0 {
				<-w.changes
			}
			var stop bool
			if next, stop = reread(); stop {
				return
			}
		case <-ticker:
			var stop bool
			if next, stop = reread(); stop {
				return
			}
		}
		if next == nil {
			continue
		}
		typ, changed := diff(last, next)
		if !changed {
			continue
		}
		last = next
		if !h.send(ctx, out, Event{Type: typ, Job: next}) || next.State.Final() {
			return
		}
	}
}

func (h *hub) send(ctx context.Context, out chan<- Event, ev Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	case <-h.ctx.Done():
		return false
	}
}

// diff says what changed between two versions of a job, if anything.
func diff(a, b *Job) (EventType, bool) {
	if a.State != b.State || a.Attempt != b.Attempt {
		return EventState, true
	}
	pa, pb := a.Progress, b.Progress
	if (pa == nil) != (pb == nil) || (pa != nil && *pa != *pb) {
		return EventProgress, true
	}
	return "", false
}
