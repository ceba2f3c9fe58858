package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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
	// db is replaced, under readMu held exclusively, when the store
	// reopens itself after a failed commit (see recover); it is nil while
	// a reopen has not succeeded yet.
	db   *pebble.DB
	dir  string
	opts Options
	// nodes is the register of store.Nodes (nodes.go), in memory.
	nodes nodes
	// buckets are the named token buckets of store.TokenStore (tokens.go).
	buckets buckets
	log     *slog.Logger

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
	// store.ErrUnavailable; while it is set every request fails, since
	// memory and the memtable no longer match the WAL. The committer
	// clears it once it has reopened the database (recover).
	broken atomic.Pointer[error]
	// fatal is set when the database cannot be reopened in this process
	// (Pebble panicked in a commit, leaving its commit pipeline locked):
	// Live reports it, so that the process is restarted.
	fatal atomic.Pointer[error]
	// syncq carries committed groups from the committer to the syncer,
	// which closes syncerDone when it exits.
	syncq      chan *pending
	syncerDone chan struct{}

	// readMu guards db and dbClosed: direct reads hold it shared so that
	// Close, or a reopen, does not close the database under them.
	readMu   sync.RWMutex
	dbClosed bool

	listenMu  sync.Mutex
	listeners []*listener
}

var (
	_ store.Driver          = (*Store)(nil)
	_ store.Notifier        = (*Store)(nil)
	_ store.Liveness        = (*Store)(nil)
	_ store.LimitStatsStore = (*Store)(nil)
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
	s := &Store{
		dir:  dir,
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
	var err error
	if s.db, s.mem, err = s.openDB(); err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// openDB opens the Pebble database in s.dir, brings its format up to date
// and loads the counters: what Open does, and what a reopen after a failed
// commit does again.
func (s *Store) openDB() (*pebble.DB, *memory, error) {
	o := &s.opts
	started := time.Now()
	cache := pebble.NewCache(pebbleCacheSize(o))
	defer cache.Unref()
	db, err := pebble.Open(s.dir, &pebble.Options{
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
		FS:                    o.fs,
		EventListener:         o.events,
	})
	if err != nil {
		if lerr := lockedError(s.dir, err); lerr != nil {
			return nil, nil, lerr
		}
		return nil, nil, fmt.Errorf("embedded: open %s: %w", s.dir, store.NoSpace(err))
	}
	if err := migrateFormat(db, s.log); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("embedded: open %s: %w", s.dir, store.NoSpace(err))
	}
	opened := time.Now()
	mem, err := loadMemory(db)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("embedded: open %s: %w", s.dir, err)
	}
	s.log.Debug("embedded: opened", slog.String("dir", s.dir),
		slog.Duration("pebble", opened.Sub(started)), slog.Duration("counters", time.Since(opened)))
	return db, mem, nil
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
		defer s.readMu.Unlock()
		s.dbClosed = true
		switch {
		case s.db == nil: // a reopen after a failed commit had not succeeded
		case s.fatalErr() != nil:
			// Pebble's commit pipeline is locked: closing would wait for
			// ever. The process is expected to exit.
			s.closeErr = s.fatalErr()
		default:
			// Flushing the memtable leaves no WAL to replay, so the next
			// Open is quick. A store broken by a failed commit is not
			// flushed: its memtable holds what failed.
			if s.brokenErr() == nil {
				if err := s.db.Flush(); err != nil {
					s.log.Warn("embedded: flush at close", slog.Any("error", err))
				}
			}
			s.closeErr = s.db.Close()
		}
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
	var retry *time.Timer // runs while the store is broken
	backoff := recoverFirst
	for {
		var retryC <-chan time.Time
		if s.brokenErr() != nil && s.fatalErr() == nil {
			if retry == nil {
				retry = time.NewTimer(backoff)
			}
			retryC = retry.C
		}
		var first request
		select {
		case first = <-s.reqs:
		case <-retryC:
			if s.recover() {
				retry, backoff = nil, recoverFirst
			} else {
				backoff = min(2*backoff, recoverMax)
				retry.Reset(backoff)
			}
			continue
		case <-s.quit:
			if retry != nil {
				retry.Stop()
			}
			s.drain()
			return
		}
		if err := s.brokenErr(); err != nil {
			// Answered at once, without a batch: there may be no
			// database to make one from.
			first.state().err = err
			answer([]request{first})
			continue
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
	// barrier, when not nil, marks no group: the syncer closes it once it
	// has answered every group before it.
	barrier chan struct{}
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
			durable, err = s.apply(tx)
		}
	}
	if err != nil {
		if durable && s.fatalErr() == nil {
			// SyncWait must run before Close, and reports the error too.
			tx.b.SyncWait()
		}
		if s.fatalErr() == nil {
			tx.b.Close()
		}
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

// apply commits tx's batch: durable ones without waiting for the fsync,
// which the syncer waits for. Pebble panics in a commit whose WAL has
// already failed (and its logger's Fatalf panics on a fatal commit error);
// that leaves its commit pipeline locked, so the store marks itself fatal
// (Live says so) rather than take the process down with it.
func (s *Store) apply(tx *txn) (durable bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pebble panicked in a commit: %v", r)
			if e, ok := r.(error); ok {
				err = fmt.Errorf("pebble panicked in a commit: %w", e)
			}
			fatal := fmt.Errorf("embedded: %w: the database cannot be reopened in this process and the process must be restarted: %w",
				store.ErrUnavailable, store.NoSpace(err))
			if s.fatal.CompareAndSwap(nil, &fatal) {
				s.log.Error("embedded: commit failed fatally", slog.Any("error", err))
			}
		}
	}()
	if tx.sync {
		return true, s.db.ApplyNoSyncWait(tx.b, pebble.Sync)
	}
	return false, tx.b.Commit(pebble.NoSync)
}

// syncer waits for the fsync of each durable group, in commit order,
// answers it and reports every group's changes.
func (s *Store) syncer() {
	defer close(s.syncerDone)
	for p := range s.syncq {
		if p.barrier != nil {
			close(p.barrier)
			continue
		}
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
// store.ErrUnavailable (and store.ErrInsufficientStorage when the disk is
// full): nothing was wrong with the requests, and once the committer has
// reopened the database (recover) they may succeed.
func (s *Store) fail(err error, group []request) {
	broken := s.fatalErr()
	if broken == nil {
		broken = fmt.Errorf("embedded: %w: a commit failed; the store reopens itself once the disk takes writes again: %w",
			store.ErrUnavailable, store.NoSpace(err))
	}
	if s.broken.CompareAndSwap(nil, &broken) {
		s.log.Error("embedded: commit failed", slog.Any("error", err))
	} else {
		broken = s.brokenErr()
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

// fatalErr is the error that left the database unusable in this process,
// or nil.
func (s *Store) fatalErr() error {
	if p := s.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// Live reports whether the store serves or can recover by itself: it
// returns an error only when Pebble failed in a way that needs a restart
// of the process. A store broken by a full disk is live: it reopens itself
// once the disk takes writes again. See store.Liveness.
func (s *Store) Live() error {
	return s.fatalErr()
}

// How often the committer tries to reopen a broken store: first after
// recoverFirst, then backing off to recoverMax.
const (
	recoverFirst = 100 * time.Millisecond
	recoverMax   = 2 * time.Second
)

// probeSize is what recover writes and fsyncs before it reopens the
// database: a disk without that much room would fail again at once.
const probeSize = 1 << 20

// recover reopens a store broken by a failed commit, on the committer
// goroutine, and reports whether it did. After a failed write or fsync
// Pebble's WAL refuses every later write (its error is sticky, since what
// reached the disk is unknown), so the database is closed and opened
// again: the WAL replay keeps every commit that was fsynced, which is
// every durable one acknowledged, and the counters are read again from
// what the disk holds. What failed was never acknowledged; it may or may
// not be there after the reopen, as after a crash.
func (s *Store) recover() bool {
	// Every group already handed to the syncer is answered first, so that
	// no batch of the old database is still waiting for its fsync.
	barrier := make(chan struct{})
	s.syncq <- &pending{barrier: barrier}
	<-barrier
	if err := probe(s.dir); err != nil {
		s.log.Debug("embedded: the disk does not take writes yet", slog.Any("error", err))
		return false
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			s.log.Debug("embedded: closing the failed database", slog.Any("error", err))
		}
		s.db = nil
	}
	db, mem, err := s.openDB()
	if err != nil {
		s.log.Warn("embedded: reopening after a failed commit", slog.Any("error", err))
		return false
	}
	s.db, s.mem = db, mem
	s.broken.Store(nil)
	s.log.Info("embedded: reopened after a failed commit; serving again", slog.String("dir", s.dir))
	return true
}

// probe writes and fsyncs probeSize bytes in a file of dir, and removes it.
func probe(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, probeSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
