package embedded

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// memory is what the committer keeps in memory: counters and cursors per
// queue, kind, state and priority, never anything per job.
type memory struct {
	queues map[string]*queueMem
	// seq is the last seq handed out in the available index.
	seq uint64
	// schedLow, leaseLow and finLow are the smallest keys of the t, l and f
	// tables that may still exist, so that walks of their heads start past
	// the tombstones of entries already removed.
	schedLow, leaseLow, finLow, idemLow []byte
	// schedNext is no later than the earliest RunAt in the scheduled
	// index; the zero time means unknown.
	schedNext time.Time
	// mayHaveDeps is false while no dependency edge can exist, so that
	// finishing a job need not look for dependents.
	mayHaveDeps bool
	// running holds the records of running jobs, as stored, so that the
	// Finish or Heartbeat that follows a Claim reads nothing. Its size is
	// bounded by the jobs in flight (workers), capped by maxRunning and
	// maxRunningBytes of args; jobs beyond the caps are read from disk.
	running      map[jobID]*rec
	runningBytes int
}

// Caps of memory.running.
const (
	maxRunning      = 1 << 16
	maxRunningBytes = 32 << 20
)

// remember keeps a copy of r in running while its job is running and
// forgets it otherwise. Only the committer calls it, after every save, so
// running always matches the database.
func (m *memory) remember(r *rec) {
	old, had := m.running[r.id]
	if had {
		m.runningBytes -= len(old.job.Args)
	}
	if r.job.State != store.StateRunning {
		if had {
			delete(m.running, r.id)
		}
		return
	}
	if !had && (len(m.running) >= maxRunning || m.runningBytes+len(r.job.Args) > maxRunningBytes) {
		return
	}
	c := *r
	m.running[r.id] = &c
	m.runningBytes += len(c.job.Args)
}

type queueMem struct {
	name string
	// paused and settings mirror the queue's q record.
	paused, settings bool
	// limits mirror the queue's n record, and tokens are its rate's bucket.
	limits store.Limits
	tokens store.Tokens
	// keyed, while limits have a Key, holds the queue's keys.
	keyed *keyedQueue
	kinds map[string]*kindMem
	// kindList holds kinds sorted by name, for a stable claim order.
	kindList []*kindMem
}

type kindMem struct {
	name   string
	counts [numStates + 1]int64 // by stateByte
	prios  [store.MaxPriority + 1]prioMem
}

// prioMem is one (queue, kind, priority) of the available index.
type prioMem struct {
	// cursor is the smallest position that may still be in the index.
	cursor availPos
	// avail counts the entries in the index.
	avail int64
}

func (m *memory) queue(name string) *queueMem {
	q := m.queues[name]
	if q == nil {
		q = &queueMem{name: name, kinds: make(map[string]*kindMem)}
		m.queues[name] = q
	}
	return q
}

func (q *queueMem) kind(name string) *kindMem {
	k := q.kinds[name]
	if k == nil {
		k = &kindMem{name: name}
		q.kinds[name] = k
		i, _ := slices.BinarySearchFunc(q.kindList, name, func(a *kindMem, n string) int {
			return strings.Compare(a.name, n)
		})
		q.kindList = slices.Insert(q.kindList, i, k)
	}
	return k
}

// loadMemory reads the counters, cursors, queue settings and the seq.
func loadMemory(db *pebble.DB) (*memory, error) {
	m := &memory{
		queues:   make(map[string]*queueMem),
		schedLow: []byte{tSched},
		leaseLow: []byte{tLease},
		finLow:   []byte{tFinished},
		idemLow:  []byte{tIdemExpir},
		running:  make(map[jobID]*rec),
	}
	if v, closer, err := db.Get(keyNextSeq); err == nil {
		if len(v) == 8 {
			m.seq = binary.BigEndian.Uint64(v)
		}
		closer.Close()
	} else if err != pebble.ErrNotFound {
		return nil, err
	}
	err := scan(db, []byte{tCount}, func(k, v []byte) error {
		q, kind, rest, ok := splitQueueKind(k[1:])
		if !ok || len(rest) != 1 || len(v) != 8 || int(rest[0]) >= len(kindMem{}.counts) {
			return fmt.Errorf("bad counter %q", k)
		}
		m.queue(q).kind(kind).counts[rest[0]] = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scan(db, []byte{tCursor}, func(k, v []byte) error {
		q, kind, rest, ok := splitQueueKind(k[1:])
		if !ok || len(rest) != 1 || len(v) != 24 || rest[0] > store.MaxPriority {
			return fmt.Errorf("bad cursor %q", k)
		}
		m.queue(q).kind(kind).prios[rest[0]] = prioMem{
			cursor: availPos(v[:16]),
			avail:  int64(binary.BigEndian.Uint64(v[16:])),
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scan(db, []byte{tQueue}, func(k, v []byte) error {
		q := m.queue(string(k[1:]))
		q.settings = true
		q.paused = len(v) > 0 && v[0] == 1
		return nil
	})
	if err == nil {
		err = loadLimits(db, m)
	}
	if err == nil {
		err = loadKeys(db, m)
	}
	if err != nil {
		return nil, err
	}
	// One seek tells whether any dependency edge exists.
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{tDep}, UpperBound: []byte{tDep + 1}})
	if err != nil {
		return nil, err
	}
	m.mayHaveDeps = it.First()
	if err := it.Close(); err != nil {
		return nil, err
	}
	return m, nil
}

// scan calls fn with every key and value under prefix.
func scan(r pebble.Reader, prefix []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func minKey(a, b []byte) []byte {
	if bytes.Compare(b, a) < 0 {
		return b
	}
	return a
}
