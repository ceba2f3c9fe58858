package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// Store is the embedded store. It implements store.Driver and
// store.Notifier. It is safe for concurrent use; Close releases it.
type Store struct {
	db   *pebble.DB
	opts Options
	log  *slog.Logger

	// reqs is unbuffered: a request is either received by the committer,
	// which then always answers it, or never sent.
	reqs chan request
	// quit is closed by Close; done is closed when the committer exits.
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// mem is owned by the committer goroutine.
	mem *memory
	// broken is the error that made a commit fail; after it every request
	// fails, since memory no longer matches the disk. Committer-owned.
	broken error

	// readMu guards dbClosed: direct reads hold it shared so that Close
	// does not close the database under them.
	readMu   sync.RWMutex
	dbClosed bool

	listenMu  sync.Mutex
	listeners []*listener
}

var (
	_ store.Driver   = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
)

// Open opens the store kept in dir, creating it if needed. opts may be nil
// for defaults. Open reads only counters and settings, never the jobs, so
// it takes about as long for a million queued jobs as for none.
func Open(dir string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	cache := pebble.NewCache(o.CacheSize)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		Cache:                       cache,
		MemTableSize:                uint64(o.MemTableSize),
		MemTableStopWritesThreshold: o.MemTables,
		Logger:                      pebbleLogger{o.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	s := &Store{
		db:   db,
		opts: o,
		log:  o.Logger,
		reqs: make(chan request),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	if err := s.checkFormat(); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	if s.mem, err = loadMemory(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	go s.run()
	return s, nil
}

// checkFormat writes the format version into a new store and refuses one
// written by a newer version of Gantry.
func (s *Store) checkFormat() error {
	v, closer, err := s.db.Get(keyFormat)
	if errors.Is(err, pebble.ErrNotFound) {
		return s.db.Set(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion), pebble.Sync)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if len(v) != 4 {
		return fmt.Errorf("unreadable format version %x", v)
	}
	if got := binary.BigEndian.Uint32(v); got > formatVersion {
		return fmt.Errorf("the data was written in format %d by a newer Gantry; this one reads up to format %d", got, formatVersion)
	}
	return nil
}

// Close stops the committer, fails the requests still waiting for it with
// store.ErrClosed and closes the database. Later calls of any method
// return store.ErrClosed; a second Close returns nil.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		close(s.quit)
		<-s.done
		s.readMu.Lock()
		s.dbClosed = true
		s.closeErr = s.db.Close()
		s.readMu.Unlock()
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// Ping reports whether the store can serve requests: it goes through the
// committer, so a closed or broken store says so.
func (s *Store) Ping(ctx context.Context) error {
	r := &pingReq{}
	return s.submit(ctx, r)
}

type pingReq struct{ reqBase }

func (r *pingReq) apply(*txn) {}

// request is one call handed to the committer.
type request interface {
	// apply does the request's reads and writes in tx. A request that
	// fails records its error and writes nothing.
	apply(tx *txn)
	base() *reqBase
}

// reqBase is what every request has: whether it must be durable, its
// error, and the channel closed when it is answered.
type reqBase struct {
	durable bool
	err     error
	done    chan struct{}
}

func (b *reqBase) base() *reqBase { return b }

// submit hands r to the committer and waits for its answer. Once the
// committer took r the answer is awaited even if ctx ends, since r may
// commit.
func (s *Store) submit(ctx context.Context, r request) error {
	b := r.base()
	b.done = make(chan struct{})
	select {
	case s.reqs <- r:
	case <-s.quit:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-b.done
	return b.err
}

// run is the committer: it owns every change to the database and to mem.
func (s *Store) run() {
	defer close(s.done)
	group := make([]request, 0, 64)
	for {
		var first request
		select {
		case first = <-s.reqs:
		case <-s.quit:
			s.drain()
			return
		}
		group = append(group[:0], first)
		tx := s.newTxn()
		s.applyOne(tx, first)
	gather:
		for len(group) < s.opts.MaxGroup && tx.b.Len() < s.opts.MaxGroupBytes {
			select {
			case r := <-s.reqs:
				group = append(group, r)
				s.applyOne(tx, r)
			default:
				break gather
			}
		}
		s.commit(tx, group)
		clear(group)
	}
}

func (s *Store) applyOne(tx *txn, r request) {
	b := r.base()
	if s.broken != nil {
		b.err = s.broken
		return
	}
	if b.durable {
		tx.sync = true
	}
	r.apply(tx)
	tx.runCascades()
}

// commit writes the group's batch, once, and answers its requests.
func (s *Store) commit(tx *txn, group []request) {
	err := tx.err
	if err == nil {
		tx.writeMemory()
		if !tx.b.Empty() {
			opt := pebble.NoSync
			if tx.sync {
				opt = pebble.Sync
			}
			err = tx.b.Commit(opt)
		}
	}
	tx.b.Close()
	if err != nil {
		s.broken = fmt.Errorf("embedded: commit failed, the store must be reopened: %w", err)
		s.log.Error("embedded: commit failed", slog.Any("error", err))
		for _, r := range group {
			if b := r.base(); b.err == nil {
				b.err = s.broken
			}
		}
	} else if len(tx.changes) > 0 {
		s.notify(tx.changes)
	}
	for _, r := range group {
		close(r.base().done)
	}
}

// drain answers every request still being sent with store.ErrClosed.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			b := r.base()
			b.err = store.ErrClosed
			close(b.done)
		default:
			return
		}
	}
}

// listener is one function registered with Notify.
type listener struct {
	fn      func([]store.Change)
	stopped atomic.Bool
}

// Notify calls fn on the committer goroutine with the changes of every
// commit from now on, until stop is called. fn must not block or call the
// store. Changes carry a snapshot of the job (without its lease token).
func (s *Store) Notify(fn func([]store.Change)) (stop func()) {
	l := &listener{fn: fn}
	s.listenMu.Lock()
	s.listeners = append(s.listeners, l)
	s.listenMu.Unlock()
	return func() {
		l.stopped.Store(true)
		s.listenMu.Lock()
		defer s.listenMu.Unlock()
		for i, x := range s.listeners {
			if x == l {
				s.listeners = append(s.listeners[:i:i], s.listeners[i+1:]...)
				return
			}
		}
	}
}

func (s *Store) notify(changes []store.Change) {
	s.listenMu.Lock()
	ls := s.listeners
	s.listenMu.Unlock()
	for _, l := range ls {
		if !l.stopped.Load() {
			l.fn(changes)
		}
	}
}

// pebbleLogger sends Pebble's messages to the store's logger: routine ones
// at debug level, errors as errors.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic(msg)
}
