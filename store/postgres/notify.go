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
// Each store announces the changes it committed with NOTIFY on the channel
// <schema>_changes (see outbox); one connection of the store's own LISTENs
// and calls the registered functions in turn, on its own goroutine.
// Notifications are best-effort: while that connection is down (it
// reconnects with backoff) changes are missed, a store that crashes right
// after a commit never announces it, and changes made by hand in SQL are
// not announced at all. Callers keep polling as the fallback, at a slower
// pace.
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

// parseChanges decodes a payload that encodeChanges made. Malformed lines
// are skipped.
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

// maxPayload bounds one notification's payload, under PostgreSQL's limit
// of 8000 bytes.
const maxPayload = 7900

// encodeChanges packs changes into payloads of at most maxPayload bytes:
// one line per change, "id TAB queue TAB kind TAB state [TAB p]", where a
// trailing "p" marks a change of progress or checkpoint only. Ids, names
// and states are ASCII without tabs or newlines, so a line is at most
// about 310 bytes.
func encodeChanges(changes []store.Change) []string {
	var out []string
	var b strings.Builder
	for _, c := range changes {
		n := len(c.ID) + len(c.Queue) + len(c.Kind) + len(c.State) + 6
		if b.Len() > 0 && b.Len()+n > maxPayload {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(c.ID)
		b.WriteByte('\t')
		b.WriteString(c.Queue)
		b.WriteByte('\t')
		b.WriteString(c.Kind)
		b.WriteByte('\t')
		b.WriteString(string(c.State))
		if c.Progress {
			b.WriteString("\tp")
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// DefaultOutboxLimit bounds the changes waiting to be announced; past it,
// changes are dropped (and logged), as notifications are best-effort.
const DefaultOutboxLimit = 100_000

// outbox announces the changes the store committed. NOTIFY takes a
// database-wide lock at commit and holds it until the commit is flushed
// to disk, so a NOTIFY inside every job transaction serialises all of
// them (measured here: 250 instead of 6,500 enqueues/s from 64
// goroutines; see docs/decisions/0002-postgres-schema.md). Instead,
// committed changes queue here and one goroutine sends them in batches,
// in a transaction of its own with synchronous_commit off: the lock is
// held for microseconds, and a burst of commits costs one NOTIFY
// transaction.
type outbox struct {
	s       *Store
	mu      sync.Mutex
	pending []store.Change
	dropped int
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	ctx     context.Context // cancelled when close gives up waiting
	cancel  context.CancelFunc
}

// outboxGrace bounds how long Close waits for the last changes to be sent.
const outboxGrace = time.Second

func (o *outbox) start(s *Store) {
	o.s = s
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.wake = make(chan struct{}, 1)
	o.stop = make(chan struct{})
	o.done = make(chan struct{})
	go o.run()
}

// add queues committed changes for announcement.
func (o *outbox) add(changes []store.Change) {
	if len(changes) == 0 {
		return
	}
	o.mu.Lock()
	if room := DefaultOutboxLimit - len(o.pending); room < len(changes) {
		o.dropped += len(changes) - max(room, 0)
		changes = changes[:max(room, 0)]
	}
	o.pending = append(o.pending, changes...)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// close sends what is queued, within outboxGrace, and stops the
// goroutine, abandoning a send that hangs.
func (o *outbox) close() {
	close(o.stop)
	t := time.NewTimer(outboxGrace)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	}
	o.cancel()
	<-o.done
}

func (o *outbox) run() {
	defer close(o.done)
	for {
		select {
		case <-o.wake:
			o.flush(o.ctx)
		case <-o.stop:
			o.flush(o.ctx)
			return
		}
	}
}

// flush sends every queued change.
func (o *outbox) flush(ctx context.Context) {
	for {
		o.mu.Lock()
		batch, dropped := o.pending, o.dropped
		o.pending, o.dropped = nil, 0
		o.mu.Unlock()
		if dropped > 0 {
			o.s.log.LogAttrs(ctx, slog.LevelWarn, "postgres: change announcements dropped: too many waiting",
				slog.Int("dropped", dropped))
		}
		if len(batch) == 0 {
			return
		}
		// One implicit transaction: set_config(..., true) lasts until its
		// commit, which then does not wait for the disk.
		_, err := o.s.pool.Exec(ctx, `SELECT pg_notify($1, p)
			FROM (SELECT set_config('synchronous_commit', 'off', true)) AS c, unnest($2::text[]) AS p`,
			o.s.q.channel, encodeChanges(batch))
		if err != nil {
			o.s.log.LogAttrs(ctx, slog.LevelWarn, "postgres: announcing changes failed",
				slog.Int("changes", len(batch)), slog.String("error", err.Error()))
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// notifyInTx announces changes inside tx: at its commit, and never if it
// rolls back. It serialises tx's commit with other notifying commits, so
// only EnqueueTx, whose commit the store does not see, uses it.
func (s *Store) notifyInTx(ctx context.Context, tx pgx.Tx, changes []store.Change) error {
	if len(changes) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, s.q.channel, encodeChanges(changes))
	return err
}

// change is the Change that j's new state makes.
func change(j *store.Job) store.Change {
	return store.Change{ID: j.ID, Queue: j.Queue, Kind: j.Kind, State: j.State}
}

// scanChanges reads rows of (id, queue, kind, state) into changes.
func scanChanges(rows pgx.Rows) ([]store.Change, error) {
	var out []store.Change
	var c store.Change
	var st string
	_, err := pgx.ForEachRow(rows, []any{&c.ID, &c.Queue, &c.Kind, &st}, func() error {
		c.State = store.State(st)
		out = append(out, c)
		return nil
	})
	return out, err
}
