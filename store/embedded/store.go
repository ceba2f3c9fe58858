package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

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
	// broken is the error that made a commit fail, wrapped with
	// store.ErrUnavailable; after it every request fails, since memory no
	// longer matches the disk.
	broken atomic.Pointer[error]
	// syncq carries committed groups from the committer to the syncer,
	// which closes syncerDone when it exits.
	syncq      chan *pending
	syncerDone chan struct{}

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
	// Another process's lock is found before Pebble tries to take it: a
	// failed pebble.Open leaves its disk-health goroutine running.
	if lerr := lockedError(dir, nil); lerr != nil {
		return nil, lerr
	}
	started := time.Now()
	cache := pebble.NewCache(pebbleCacheSize(&o))
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		Cache:                       cache,
		MemTableSize:                uint64(o.MemTableSize),
		MemTableStopWritesThreshold: o.MemTables,
		Logger:                      pebbleLogger{o.Logger},
		Levels:                      levels(),
		// A queue's data is short-lived: letting L0 hold more files and
		// Lbase more bytes before compacting means many jobs are deleted
		// before a compaction ever rewrites them.
		L0CompactionThreshold: 8,
		LBaseMaxBytes:         256 << 20,
	})
	if err != nil {
		if lerr := lockedError(dir, err); lerr != nil {
			return nil, lerr
		}
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	s := &Store{
		db:   db,
		opts: o,
		log:  o.Logger,
		reqs: make(chan request),
		// A few groups may wait for their fsync while the next is
		// applied; Pebble syncs the WAL for all of them at once.
		syncq:      make(chan *pending, 4),
		syncerDone: make(chan struct{}),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if err := s.checkFormat(); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	opened := time.Now()
	if s.mem, err = loadMemory(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	s.log.Debug("embedded: opened", slog.String("dir", dir),
		slog.Duration("pebble", opened.Sub(started)), slog.Duration("counters", time.Since(opened)))
	go s.run()
	return s, nil
}

// pebbleCacheSize is the size of the cache given to Pebble: the block
// cache the options ask for plus the two memtables that Pebble reserves in
// it in steady state (decision 0006).
func pebbleCacheSize(o *Options) int64 {
	return o.CacheSize + 2*o.MemTableSize
}

// levels gives every level of the LSM bloom filters, so that reading a
// job does not search every sstable that might hold it.
func levels() (l [7]pebble.LevelOptions) {
	for i := range l {
		l[i].FilterPolicy = bloom.FilterPolicy(10)
		l[i].FilterType = pebble.TableFilter
	}
	return l
}

// checkFormat writes the format version into a new store and refuses one
// written in another format.
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
	switch got := binary.BigEndian.Uint32(v); {
	case got > formatVersion:
		return fmt.Errorf("the data was written in format %d by a newer Gantry; this one reads format %d", got, formatVersion)
	case got < formatVersion:
		return fmt.Errorf("the data was written in format %d by a development version of Gantry; this one reads format %d: move the data dir aside", got, formatVersion)
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
		// Flushing the memtable leaves no WAL to replay, so the next Open
		// is quick. A store broken by a failed commit is not flushed.
		if s.brokenErr() == nil {
			if err := s.db.Flush(); err != nil {
				s.log.Warn("embedded: flush at close", slog.Any("error", err))
			}
		}
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
	_, err := submit(ctx, s, &pingReq{}, applied)
	return err
}

type pingReq struct{ reqBase[struct{}] }

func (r *pingReq) apply(*txn) {}

// request is one call handed to the committer.
type request interface {
	// apply does the request's reads and writes in tx. A request that
	// fails records its error and writes nothing.
	apply(tx *txn)
	state() *reqState
}

// reqState is what the committer knows of every request: whether it must
// be durable, its error, and the channel closed when it is answered.
type reqState struct {
	durable bool
	err     error
	done    chan struct{}
}

// reqBase, embedded in every request, holds its state and its result, of
// type T, which apply sets.
type reqBase[T any] struct {
	reqState
	res T
}

func (b *reqBase[T]) state() *reqState { return &b.reqState }
func (b *reqBase[T]) result() T        { return b.res }

// durability says when the committer answers a request.
type durability bool

const (
	// durable: once its commit is fsynced.
	durable durability = true
	// applied: once its commit is applied, visible to every later read;
	// a crash may lose it.
	applied durability = false
)

// submit hands r to the committer, waits for its answer and returns its
// result. Once the committer took r the answer is awaited even if ctx
// ends, since r may commit.
func submit[T any](ctx context.Context, s *Store, r interface {
	request
	result() T
}, d durability) (T, error) {
	b := r.state()
	b.durable = bool(d)
	b.done = make(chan struct{})
	var zero T
	select {
	case s.reqs <- r:
	case <-s.quit:
		return zero, store.ErrClosed
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	<-b.done
	if b.err != nil {
		return zero, b.err
	}
	return r.result(), nil
}

// run is the committer: it owns every change to the database and to mem.
// It applies a group to the database, where it is visible at once, and
// hands a group that must be durable to the syncer, which waits for the
// WAL fsync and answers it; meanwhile run applies the next group, so the
// work of one group overlaps the fsync of the previous one.
func (s *Store) run() {
	defer close(s.done)
	go s.syncer()
	defer func() {
		close(s.syncq)
		<-s.syncerDone
	}()
	for {
		var first request
		select {
		case first = <-s.reqs:
		case <-s.quit:
			s.drain()
			return
		}
		group := make([]request, 0, 16)
		group = append(group, first)
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
	}
}

func (s *Store) applyOne(tx *txn, r request) {
	b := r.state()
	if err := s.brokenErr(); err != nil {
		b.err = err
		return
	}
	if b.durable {
		tx.sync = true
	}
	r.apply(tx)
	tx.runCascades()
}

// pending is a committed group on its way to the syncer.
type pending struct {
	// b, when not nil, was applied without waiting for its fsync; the
	// syncer waits for it, then answers group.
	b       *pebble.Batch
	group   []request
	changes []store.Change
}

// commit applies the group's batch, once. A group that need not be
// durable is answered at once; the syncer answers the others after the
// fsync. Either way the syncer reports the changes, in commit order.
func (s *Store) commit(tx *txn, group []request) {
	err := tx.err
	durable := false
	if err == nil {
		tx.writeMemory()
		if !tx.b.Empty() {
			if tx.sync {
				durable = true
				err = s.db.ApplyNoSyncWait(tx.b, pebble.Sync)
			} else {
				err = tx.b.Commit(pebble.NoSync)
			}
		}
	}
	if err != nil {
		if durable {
			// SyncWait must run before Close, and reports the error too.
			tx.b.SyncWait()
		}
		tx.b.Close()
		s.fail(err, group)
		answer(group)
		return
	}
	p := &pending{changes: tx.changes}
	if durable {
		p.b, p.group = tx.b, group
	} else {
		tx.b.Close()
		answer(group)
	}
	if p.b != nil || len(p.changes) > 0 {
		s.syncq <- p
	}
}

// syncer waits for the fsync of each durable group, in commit order,
// answers it and reports every group's changes.
func (s *Store) syncer() {
	defer close(s.syncerDone)
	for p := range s.syncq {
		var err error
		if p.b != nil {
			err = p.b.SyncWait()
			p.b.Close()
		}
		if err != nil {
			s.fail(err, p.group)
		} else if len(p.changes) > 0 {
			s.notify(p.changes)
		}
		answer(p.group)
	}
}

// fail marks the store broken by a failed commit and fails the group's
// requests that had not failed on their own. A broken store is
// store.ErrUnavailable: nothing was wrong with the requests, and once the
// store is reopened (the process restarted, which /readyz asks for) they
// may succeed.
func (s *Store) fail(err error, group []request) {
	broken := fmt.Errorf("embedded: %w: a commit failed and the store must be reopened: %w", store.ErrUnavailable, err)
	if s.broken.CompareAndSwap(nil, &broken) {
		s.log.Error("embedded: commit failed", slog.Any("error", err))
	}
	for _, r := range group {
		if b := r.state(); b.err == nil {
			b.err = broken
		}
	}
}

// brokenErr is the error that broke the store, or nil.
func (s *Store) brokenErr() error {
	if p := s.broken.Load(); p != nil {
		return *p
	}
	return nil
}

func answer(group []request) {
	for _, r := range group {
		close(r.state().done)
	}
}

// drain answers every request still being sent with store.ErrClosed.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			b := r.state()
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

// Notify calls fn with the changes of every commit from now on, until stop
// is called. fn runs on the syncer goroutine, in commit order, after a
// durable commit's fsync; it must not block or call the store, since the
// answers to the commit's requests, and to later ones, wait for it.
// Changes carry a snapshot of the job (without its lease token).
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
