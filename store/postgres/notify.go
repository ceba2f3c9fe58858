package postgres

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gantry-dev/gantry/store"
)

// Notify calls fn with the changes of every commit, from every node that
// shares the database, until stop is called.
//
// Triggers on the jobs table send the changes with NOTIFY on the channel
// <schema>_changes; one connection of the store's own LISTENs and calls
// the registered functions in turn, on its own goroutine. Notifications are
// best-effort: while that connection is down (it reconnects with backoff)
// changes are missed, and PostgreSQL drops them when a listener falls far
// behind. Callers keep polling as the fallback, at a slower pace.
//
// The first Notify starts the listener and waits up to
// Options.ListenTimeout for it to be listening, so that changes committed
// after Notify returns are seen. Change.Job is always nil: listeners that
// need the job read it with Get. stop must not be called from fn.
func (s *Store) Notify(fn func([]store.Change)) (stop func()) {
	return s.listen.subscribe(fn)
}

// listener owns the LISTEN connection and its goroutine.
type listener struct {
	s   *Store
	cfg *pgx.ConnConfig

	mu      sync.Mutex
	subs    map[int]func([]store.Change)
	next    int
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func (l *listener) init(s *Store, cfg *pgx.ConnConfig) {
	l.s = s
	l.cfg = cfg.Copy()
	l.subs = map[int]func([]store.Change){}
}

func (l *listener) subscribe(fn func([]store.Change)) (stop func()) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return func() {}
	}
	id := l.next
	l.next++
	l.subs[id] = fn
	var ready chan struct{}
	if !l.started {
		l.started = true
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		l.done = make(chan struct{})
		ready = make(chan struct{})
		go l.run(ctx, ready)
	}
	l.mu.Unlock()
	if ready != nil {
		t := time.NewTimer(l.s.opts.ListenTimeout)
		select {
		case <-ready:
		case <-t.C:
			l.s.log.Warn("postgres: the change listener is not connected yet; changes may be missed until it is")
		}
		t.Stop()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.subs, id)
			l.mu.Unlock()
		})
	}
}

// close stops the listener and waits for its goroutine.
func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	cancel, done := l.cancel, l.done
	l.subs = map[int]func([]store.Change){}
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// run listens until ctx ends, reconnecting with exponential backoff. It
// closes ready once it listens for the first time.
func (l *listener) run(ctx context.Context, ready chan struct{}) {
	defer close(l.done)
	backoff := l.s.opts.ListenRetryMin
	for {
		err := l.listenOnce(ctx, func() {
			backoff = l.s.opts.ListenRetryMin
			if ready != nil {
				close(ready)
				ready = nil
			}
		})
		if ctx.Err() != nil {
			return
		}
		l.s.log.LogAttrs(ctx, slog.LevelWarn, "postgres: change listener disconnected; reconnecting",
			slog.String("error", errString(err)), slog.Duration("backoff", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, l.s.opts.ListenRetryMax)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// listenOnce connects, LISTENs and delivers notifications until the
// connection fails or ctx ends.
func (l *listener) listenOnce(ctx context.Context, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx) //nolint:errcheck // the connection is abandoned either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.s.q.channel}.Sanitize()); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		changes := parseChanges(n.Payload)
		if len(changes) == 0 {
			continue
		}
		l.mu.Lock()
		fns := make([]func([]store.Change), 0, len(l.subs))
		for _, fn := range l.subs {
			fns = append(fns, fn)
		}
		l.mu.Unlock()
		for _, fn := range fns {
			fn(changes)
		}
	}
}

// parseChanges decodes a payload of the jobs_notify triggers: one line per
// job, "id TAB queue TAB kind TAB state [TAB p]". Malformed lines are
// skipped.
func parseChanges(payload string) []store.Change {
	var out []store.Change
	for line := range strings.SplitSeq(payload, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 4 || len(f) > 5 {
			continue
		}
		c := store.Change{ID: f[0], Queue: f[1], Kind: f[2], State: store.State(f[3])}
		if !c.State.Valid() {
			continue
		}
		if len(f) == 5 {
			if f[4] != "p" {
				continue
			}
			c.Progress = true
		}
		out = append(out, c)
	}
	return out
}
