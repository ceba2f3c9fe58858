package postgres

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-dev/gantry/store"
)

// leaderInterval is how often a store that does not lead tries to take the
// lock, and how often the leader checks that its connection is alive. A
// leader that dies is replaced within about one interval: PostgreSQL frees a
// session's advisory locks as soon as the session ends.
const leaderInterval = time.Second

// leaderPingTimeout bounds one liveness check of the leader's connection.
const leaderPingTimeout = 2 * time.Second

// leaderUnlockTimeout bounds the unlock when leadership is given up; when
// it fails the connection is closed, which frees the lock anyway.
const leaderUnlockTimeout = 5 * time.Second

// Errors set as the cause of the lost context.
var (
	errLeaderReleased = errors.New("postgres: leadership released")
	errLeaderConnLost = errors.New("postgres: leader's connection lost")
)

var _ store.Elector = (*Store)(nil)

// Lead blocks until this store holds the schema's leader lock, ctx ends or
// the store is closed.
//
// The lock is a session-level advisory lock (pg_try_advisory_lock) whose
// key is derived from the schema name, so stores on different schemas of
// one database elect their leaders apart. It is held on a connection taken
// from the pool for as long as leadership lasts (so the leader has one
// pooled connection fewer for other work). Until it gets the lock, Lead
// tries again every second, returning the connection to the pool in
// between. While leading, the connection is pinged every second; when a
// ping fails, lost ends with that cause. When the leader's process dies, its
// connection closes and PostgreSQL frees the lock at once, so another node
// leads within about a second.
//
// release unlocks and returns the connection to the pool; Close releases
// too.
func (s *Store) Lead(ctx context.Context) (lost context.Context, release func(), err error) {
	return s.lead.lead(ctx, s)
}

// leaderKey is the advisory lock key of schema's leader.
func leaderKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gantry leader\x00" + schema))
	return int64(h.Sum64())
}

// elector owns the leader's connection and the goroutine that watches it.
// Its zero value is ready; close ends every term and makes Lead fail.
type elector struct {
	mu     sync.Mutex
	closed bool
	ctx    context.Context // ends at close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	pid    atomic.Uint32 // backend pid of the leader's connection, 0 when not leading
}

// closing returns a context that close ends, creating it on first use.
func (e *elector) closing() context.Context {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil {
		e.ctx, e.cancel = context.WithCancel(context.Background())
	}
	return e.ctx
}

// enter registers a call or goroutine that close waits for, or reports
// false after close.
func (e *elector) enter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	return true
}

// close ends every Lead call and leadership term, and waits until their
// connections are back in the pool.
func (e *elector) close() {
	e.closing()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.cancel()
	e.mu.Unlock()
	e.wg.Wait()
}

func (e *elector) lead(ctx context.Context, s *Store) (context.Context, func(), error) {
	if !e.enter() {
		return nil, nil, store.ErrClosed
	}
	defer e.wg.Done()
	// tryCtx ends with ctx or at close.
	tryCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.closing(), cancel)()

	key := leaderKey(s.opts.Schema)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-tryCtx.Done():
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, store.ErrClosed
		case <-t.C:
		}
		conn, err := e.try(tryCtx, s, key)
		if err != nil && tryCtx.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelDebug, "postgres: trying the leader lock failed", slog.String("error", err.Error()))
		}
		if conn != nil {
			lost, release, ok := e.hold(ctx, s, conn, key)
			if ok {
				return lost, release, nil
			}
		}
		t.Reset(leaderInterval)
	}
}

// try takes a connection and the lock on it. It returns the connection when
// it holds the lock, nil otherwise.
func (e *elector) try(ctx context.Context, s *Store, key int64) (*pgxpool.Conn, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&locked); err != nil {
		// The session's state is unknown (the query may have locked before
		// the context ended): close it so that any lock goes with it.
		destroy(conn)
		return nil, err
	}
	if !locked {
		conn.Release()
		return nil, nil
	}
	return conn, nil
}

// hold starts the term of a leader that holds the lock on conn. It reports
// false, after giving conn back, when the store is closing.
func (e *elector) hold(ctx context.Context, s *Store, conn *pgxpool.Conn, key int64) (context.Context, func(), bool) {
	if !e.enter() {
		unlock(s, conn, key)
		return nil, nil, false
	}
	lost, cancelLost := context.WithCancelCause(ctx)
	e.pid.Store(conn.Conn().PgConn().PID())
	finished := make(chan struct{})
	closing := e.closing().Done()
	go func() {
		defer e.wg.Done()
		defer close(finished)
		e.watch(lost, cancelLost, closing, s, conn, key)
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			cancelLost(errLeaderReleased)
			<-finished
		})
	}
	return lost, release, true
}

// watch pings conn every leaderInterval until the term ends: when a ping
// fails it ends lost and closes conn; otherwise it unlocks and returns
// conn to the pool when lost ends or the store closes.
func (e *elector) watch(lost context.Context, cancelLost context.CancelCauseFunc, closing <-chan struct{}, s *Store, conn *pgxpool.Conn, key int64) {
	defer e.pid.Store(0)
	t := time.NewTicker(leaderInterval)
	defer t.Stop()
	for {
		select {
		case <-lost.Done():
			unlock(s, conn, key)
			return
		case <-closing:
			cancelLost(store.ErrClosed)
			unlock(s, conn, key)
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(lost), leaderPingTimeout)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			s.log.LogAttrs(lost, slog.LevelWarn, "postgres: the leader's connection failed; giving up leadership",
				slog.String("error", err.Error()))
			cancelLost(errors.Join(errLeaderConnLost, err))
			destroy(conn)
			return
		}
	}
}

// unlock frees the lock and returns conn to the pool, or closes conn (which
// frees the lock too) when the unlock fails.
func unlock(s *Store, conn *pgxpool.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.Background(), leaderUnlockTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "postgres: unlocking the leader lock failed; closing its connection",
			slog.String("error", err.Error()))
		destroy(conn)
		return
	}
	conn.Release()
}

// destroy closes conn's session and removes it from the pool.
func destroy(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Hijack().Close(ctx)
}

// leaderPID returns the backend pid of the leader's connection, or 0 when
// this store does not lead. Tests use it to kill that backend.
func (s *Store) leaderPID() uint32 { return s.lead.pid.Load() }
