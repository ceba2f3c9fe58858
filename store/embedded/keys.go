package embedded

import (
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"github.com/gantry-dev/gantry/store"
)

// The key space. Every key starts with one byte naming its table; integers
// are big-endian and fixed-width so that keys sort by them, and times are
// nanoseconds since the Unix epoch with the sign bit flipped.
//
//	m <name>                                  meta: format version, next seq
//	s <id16>                                  job state (small, rewritten on every transition)
//	a <queue> 0 <kind> 0 <prio1> <since8> <seq8>  available index -> id16
//	t <runAt8> <id16>                         scheduled and retrying jobs
//	l <leaseExpiry8> <id16>                   running jobs
//	f <finishedAt8> <id16>                    final jobs
//	x <state1> <id16>                         every job by state
//	u <unique key>                            -> id16 while the job is not final
//	d <dep id16> <dependent id16>             dependents by the job they wait for (kept until pruned)
//	b <dependent id16> <dep id16>             the same edges from the dependent's side
//	w <workflow id16>                         -> workflow record: name, times, counts per state
//	g <workflow id16> <id16>                  the jobs of a workflow
//	c <queue> 0 <kind> 0 <state1>             -> count8
//	r <queue> 0 <kind> 0 <prio1>              -> cursor (since8 seq8) + available count8
//	q <queue>                                 -> queue settings (paused)
//	n <queue>                                 -> queue limits (JSON; format 5, limits.go)
//	i <idempotency key>                       -> hash, expiry, job ids
//	e <expiry8> <idempotency key>             idempotency keys by expiry
//	k <queue> 0 <len2> <key> ...              jobs of keyed queues by limit key (format 7, keyed.go)
//	z <id16>                                  job spec (immutable), last: see below
//
// The specs, which hold the args and make up most of the data, sort after
// every other table. The tables a running queue rewrites (states, indexes,
// counters) all sort before them, so the sstables flushed while a backlog
// is worked off never overlap the specs, and compactions do not rewrite the
// args of a million waiting jobs again and again.
const (
	tMeta      = 'm'
	tSpec      = 'z'
	tState     = 's'
	tAvail     = 'a'
	tSched     = 't'
	tLease     = 'l'
	tFinished  = 'f'
	tByState   = 'x'
	tUnique    = 'u'
	tDep       = 'd'
	tBlocked   = 'b'
	tWorkflow  = 'w'
	tWfJob     = 'g'
	tCount     = 'c'
	tCursor    = 'r'
	tQueue     = 'q'
	tLimits    = 'n'
	tKeyed     = 'k'
	tIdem      = 'i'
	tIdemExpir = 'e'
)

var (
	keyFormat  = []byte("mformat")
	keyNextSeq = []byte("mseq")
)

// formatVersion is the layout of the keys and records this code writes:
// the version of the last migration (migrate.go). Open migrates a
// directory written in an older format and refuses one written in a newer.
const formatVersion = 7

type jobID = [16]byte

func parseID(s string) (jobID, bool) {
	u, err := uuid.Parse(s)
	if err != nil {
		return jobID{}, false
	}
	return jobID(u), true
}

func idString(id jobID) string { return uuid.UUID(id).String() }

// timeNanos encodes t for keys and records; the zero time is 0.
func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(timeNanos(t))^(1<<63))
}

func keyTime(b []byte) time.Time {
	return nanosTime(int64(binary.BigEndian.Uint64(b) ^ (1 << 63)))
}

func idKey(table byte, id jobID) []byte {
	k := make([]byte, 0, 17)
	return append(append(k, table), id[:]...)
}

// timeIDKey is a key of the t, l and f tables.
func timeIDKey(table byte, t time.Time, id jobID) []byte {
	k := make([]byte, 0, 25)
	k = appendTime(append(k, table), t)
	return append(k, id[:]...)
}

// timeBound is the first key of table at time t: every key of an earlier
// time sorts before it.
func timeBound(table byte, t time.Time) []byte {
	return appendTime([]byte{table}, t)
}

func queueKindPrefix(table byte, queue, kind string) []byte {
	k := make([]byte, 0, 3+len(queue)+len(kind)+9)
	k = append(k, table)
	k = append(k, queue...)
	k = append(k, 0)
	k = append(k, kind...)
	return append(k, 0)
}

// availPrefix is the prefix of one (queue, kind, priority) of the
// available index.
func availPrefix(queue, kind string, prio int) []byte {
	return append(queueKindPrefix(tAvail, queue, kind), byte(prio))
}

// availPos is where an entry sits within one (queue, kind, priority) of
// the available index: when the job became available, then the store-wide
// seq, so that jobs are claimed in the order they became available.
type availPos [16]byte

func makeAvailPos(since time.Time, seq uint64) availPos {
	var p availPos
	binary.BigEndian.PutUint64(p[:8], uint64(timeNanos(since))^(1<<63))
	binary.BigEndian.PutUint64(p[8:], seq)
	return p
}

func (p availPos) since() time.Time { return keyTime(p[:8]) }

// next is the smallest position after p.
func (p availPos) next() availPos {
	seq := binary.BigEndian.Uint64(p[8:])
	binary.BigEndian.PutUint64(p[8:], seq+1)
	return p
}

func availKey(queue, kind string, prio int, pos availPos) []byte {
	return append(availPrefix(queue, kind, prio), pos[:]...)
}

func stateKey(s store.State, id jobID) []byte {
	k := make([]byte, 0, 18)
	k = append(k, tByState, stateByte(s))
	return append(k, id[:]...)
}

func depKey(dep, dependent jobID) []byte {
	k := make([]byte, 0, 33)
	k = append(append(k, tDep), dep[:]...)
	return append(k, dependent[:]...)
}

// blockedKey is the edge dep -> dependent seen from the dependent.
func blockedKey(dependent, dep jobID) []byte {
	k := make([]byte, 0, 33)
	k = append(append(k, tBlocked), dependent[:]...)
	return append(k, dep[:]...)
}

func wfJobKey(wf, id jobID) []byte {
	k := make([]byte, 0, 33)
	k = append(append(k, tWfJob), wf[:]...)
	return append(k, id[:]...)
}

func countKey(queue, kind string, s store.State) []byte {
	return append(queueKindPrefix(tCount, queue, kind), stateByte(s))
}

func cursorKey(queue, kind string, prio int) []byte {
	return append(queueKindPrefix(tCursor, queue, kind), byte(prio))
}

func strKey(table byte, s string) []byte {
	k := make([]byte, 0, 1+len(s))
	return append(append(k, table), s...)
}

func idemExpiryKey(t time.Time, key string) []byte {
	return append(timeBound(tIdemExpir, t), key...)
}

// prefixEnd is the first key after every key with the prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// splitQueueKind splits the queue 0 kind 0 rest part of a c or r key
// (without its table byte).
func splitQueueKind(b []byte) (queue, kind string, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			for j := i + 1; j < len(b); j++ {
				if b[j] == 0 {
					return string(b[:i]), string(b[i+1 : j]), b[j+1:], true
				}
			}
			return "", "", nil, false
		}
	}
	return "", "", nil, false
}

// numStates is the number of states; state bytes run from 1 to numStates.
const numStates = 8

var stateBytes = map[store.State]byte{
	store.StateWaiting: 1, store.StateScheduled: 2, store.StateAvailable: 3, store.StateRunning: 4,
	store.StateRetrying: 5, store.StateSucceeded: 6, store.StateFailed: 7, store.StateCancelled: 8,
}

var byteStates = func() [256]store.State {
	var a [256]store.State
	for s, b := range stateBytes {
		a[b] = s
	}
	return a
}()

func stateByte(s store.State) byte {
	b, ok := stateBytes[s]
	if !ok {
		panic("embedded: unknown state " + string(s))
	}
	return b
}
