package embedded

import (
	"bytes"
	"cmp"
	"container/heap"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// Per-key limits (store.Limits.Key; decision 0019). A keyed queue's jobs
// are indexed a second time, by key, in table 'k':
//
//	k <queue> 0 <len2> <key> 'a' <prio1> <since8> <seq8>  available jobs of a key -> id16 kind
//	k <queue> 0 <len2> <key> 's' <created8> <id16>        a fifo key's sequence -> kind
//
// The 'a' entries mirror the queue's entries of table 'a', split by key;
// the 's' entries, kept only under Order fifo, hold the jobs of a key that
// are available, scheduled, retrying or running, in enqueue order: the
// first is the key's head. Both are written only while the queue is keyed
// (SetLimits rebuilds them when the key or the order changes).
// Entries are removed with Delete, not SingleDelete: a rebuild writes
// again, under a range deletion, keys that may have been written before.
//
// In memory each key has a keyMem: its available and running counts, a
// cursor per priority past the entries already claimed, its virtual pass
// and its token bucket. The keys a claim may serve sit in a min-heap by
// pass, so a claim costs the keys it touches, never the backlog. The
// counts and cursors are rebuilt at open from table 'k' and the running
// jobs; the buckets start full.

// keyedQueue is what a keyed queue keeps in memory.
type keyedQueue struct {
	keys map[string]*keyMem
	// ready holds the keys a claim may serve, by pass.
	ready keyHeap
	// vtime is the pass of the key served last: a key that becomes ready
	// while none is starts there.
	vtime float64
	// idle holds keys with nothing available or running, whose token
	// buckets are kept until they would be full again.
	idle []*keyMem
}

// keyMem is one key of a keyed queue.
type keyMem struct {
	name  string
	prios [store.MaxPriority + 1]prioMem
	// avail counts the key's available jobs, running its running ones and
	// seq its entries in the sequence index (fifo).
	avail, running, seq int64
	// seqCursor is the smallest sequence position that may still exist.
	seqCursor [24]byte
	// maybe tells, under fifo, that the key's head may be claimable: set
	// when a job of the key becomes available or leaves the sequence.
	maybe  bool
	pass   float64
	tokens store.Tokens
	// at is the key's index in ready, -1 when not there.
	at int
	// dropped is set once the key left keys, idle while it is in idle.
	dropped, idle bool
}

type keyHeap []*keyMem

func (h keyHeap) Len() int { return len(h) }
func (h keyHeap) Less(i, j int) bool {
	if h[i].pass != h[j].pass {
		return h[i].pass < h[j].pass
	}
	return h[i].name < h[j].name
}
func (h keyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].at = i; h[j].at = j }
func (h *keyHeap) Push(x any)   { k := x.(*keyMem); k.at = len(*h); *h = append(*h, k) }
func (h *keyHeap) Pop() any {
	old := *h
	k := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	k.at = -1
	return k
}

func newKeyedQueue() *keyedQueue { return &keyedQueue{keys: make(map[string]*keyMem)} }

func (kq *keyedQueue) key(name string) *keyMem {
	k := kq.keys[name]
	if k == nil {
		k = &keyMem{name: name, at: -1}
		kq.keys[name] = k
	}
	return k
}

// fifo reports whether l makes each key a sequence.
func fifo(l store.Limits) bool { return l.Order == store.OrderFIFO }

// ready reports whether a claim may serve k under l.
func (k *keyMem) ready(l store.Limits) bool {
	if l.PerKeyConcurrency > 0 && k.running >= int64(l.PerKeyConcurrency) {
		return false
	}
	if fifo(l) {
		return k.maybe && k.seq > 0
	}
	return k.avail > 0
}

// sync puts k in the ready heap or takes it out, as its state says, and
// drops it when it is idle and its bucket would refill anyway.
func (kq *keyedQueue) sync(k *keyMem, l store.Limits) {
	switch r := k.ready(l); {
	case r && k.at < 0:
		floor := kq.vtime
		if len(kq.ready) > 0 {
			floor = kq.ready[0].pass
		}
		k.pass = max(k.pass, floor)
		heap.Push(&kq.ready, k)
	case !r && k.at >= 0:
		heap.Remove(&kq.ready, k.at)
	}
	if k.avail == 0 && k.running == 0 && k.seq == 0 && !k.dropped {
		if l.PerKeyRate == "" {
			kq.drop(k)
		} else if !k.idle {
			k.idle = true
			kq.idle = append(kq.idle, k)
		}
	}
}

func (kq *keyedQueue) drop(k *keyMem) {
	if k.at >= 0 {
		heap.Remove(&kq.ready, k.at)
	}
	if kq.keys[k.name] == k {
		delete(kq.keys, k.name)
	}
	k.dropped = true
}

// sweep drops the idle keys, oldest first, whose buckets are full at now.
func (kq *keyedQueue) sweep(l store.Limits, now time.Time) {
	kl := l.KeyLimits()
	_, burst := kl.Bucket()
	for len(kq.idle) > 0 {
		k := kq.idle[0]
		if !k.dropped && (k.avail > 0 || k.running > 0 || k.seq > 0) {
			k.idle = false // busy again: sync lists it when idle
			kq.idle = kq.idle[1:]
			continue
		}
		if !k.dropped {
			t := k.tokens
			t.Take(kl, now, 0)
			if t.N < float64(burst) {
				return
			}
			kq.drop(k)
		}
		k.idle = false
		kq.idle = kq.idle[1:]
	}
}

// keyPrefix is the prefix of one key of a queue in table 'k'.
func keyPrefix(queue, key string) []byte {
	k := make([]byte, 0, 4+len(queue)+len(key)+26)
	k = append(k, tKeyed)
	k = append(k, queue...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint16(k, uint16(len(key)))
	return append(k, key...)
}

func keyAvailPrefix(queue, key string, prio int) []byte {
	return append(keyPrefix(queue, key), 'a', byte(prio))
}

func keySeqPrefix(queue, key string) []byte { return append(keyPrefix(queue, key), 's') }

// seqPos is a job's place in its key's sequence: enqueue time, then id.
func seqPos(j *store.Job, id jobID) (p [24]byte) {
	binary.BigEndian.PutUint64(p[:8], uint64(timeNanos(j.CreatedAt))^(1<<63))
	copy(p[8:], id[:])
	return p
}

// inSequence reports whether a job in state s holds a place in its key's
// sequence.
func inSequence(s store.State) bool {
	return s == store.StateAvailable || s == store.StateRunning || isSched(s)
}

// keyIndex moves r's entries of table 'k' and its key's counts from the
// state old to the state n, for a job of the keyed queue q.
func (tx *txn) keyIndex(q *queueMem, r *rec, old, n *stateRec) {
	j := &r.job
	kq := q.keyed
	k := kq.key(j.LimitKey)
	wasAvail := !r.isNew && old.State == store.StateAvailable
	isAvail := n.State == store.StateAvailable
	if wasAvail && !isAvail {
		pos := makeAvailPos(old.Since, old.Seq)
		tx.del(append(keyAvailPrefix(j.Queue, j.LimitKey, j.Priority), pos[:]...))
		k.prios[j.Priority].avail--
		k.avail--
	}
	if isAvail && !wasAvail {
		pos := makeAvailPos(n.Since, n.Seq)
		tx.set(append(keyAvailPrefix(j.Queue, j.LimitKey, j.Priority), pos[:]...), append(r.id[:], j.Kind...))
		pm := &k.prios[j.Priority]
		pm.avail++
		k.avail++
		// The only entry of its priority, or one earlier than the
		// cursor, moves the cursor to it.
		if pm.avail == 1 || bytes.Compare(pos[:], pm.cursor[:]) < 0 {
			pm.cursor = pos
		}
		k.maybe = true
	}
	wasRun := !r.isNew && old.State == store.StateRunning
	if isRun := n.State == store.StateRunning; wasRun != isRun {
		if isRun {
			k.running++
		} else {
			k.running--
		}
	}
	if fifo(q.limits) {
		wasIn, isIn := !r.isNew && inSequence(old.State), inSequence(n.State)
		pos := seqPos(j, r.id)
		switch {
		case wasIn && !isIn:
			tx.del(append(keySeqPrefix(j.Queue, j.LimitKey), pos[:]...))
			k.seq--
			k.maybe = true
		case isIn && !wasIn:
			tx.set(append(keySeqPrefix(j.Queue, j.LimitKey), pos[:]...), []byte(j.Kind))
			k.seq++
			if k.seq == 1 || bytes.Compare(pos[:], k.seqCursor[:]) < 0 {
				k.seqCursor = pos
			}
		}
	}
	kq.sync(k, q.limits)
}

// kindFilter tells which kinds a claim with p may take.
type kindFilter struct{ p *store.ClaimParams }

func (f kindFilter) allows(kind []byte) bool {
	p := f.p
	if p.Kinds == nil && len(p.ExcludeKinds) == 0 {
		return true
	}
	s := string(kind)
	return (p.Kinds == nil || slices.Contains(p.Kinds, s)) && !slices.Contains(p.ExcludeKinds, s)
}

// claimKeyed claims up to allowed jobs of the keyed queue q, taking the
// next job of the ready key with the smallest pass each time. It returns
// how long until a key out of tokens has one again, when such keys kept
// the claim short.
func (r *claimReq) claimKeyed(tx *txn, q *queueMem, allowed int) time.Duration {
	p := r.p
	kq, l := q.keyed, q.limits
	kl := l.KeyLimits()
	perKeyRate, _ := kl.Bucket()
	if perKeyRate > 0 {
		kq.sweep(l, p.Now)
	}
	it, err := tx.b.NewIter(&pebble.IterOptions{LowerBound: keyPrefix(p.Queue, "")[:len(p.Queue)+2], UpperBound: prefixEnd(keyPrefix(p.Queue, "")[:len(p.Queue)+2])})
	if err != nil {
		tx.fail(err)
		r.err = err
		return 0
	}
	defer it.Close()
	filter := kindFilter{p}
	var skipped []*keyMem
	var wait time.Duration
	for len(r.res) < allowed && len(kq.ready) > 0 {
		k := kq.ready[0]
		if perKeyRate > 0 && k.tokens.Take(kl, p.Now, 1) == 0 {
			if w := k.tokens.Wait(kl); wait == 0 || w < wait {
				wait = w
			}
			skipped = append(skipped, heap.Pop(&kq.ready).(*keyMem))
			continue
		}
		var id jobID
		var found bool
		if fifo(l) {
			found, err = tx.keyHead(it, p.Queue, k, filter, &id)
		} else {
			found, err = keyNext(it, p.Queue, k, filter, &id)
		}
		if err != nil {
			tx.fail(err)
			r.err = err
			return 0
		}
		if !found {
			if perKeyRate > 0 {
				k.tokens.N++
			}
			if k.at >= 0 { // not a head that blocks: kinds left it out
				skipped = append(skipped, heap.Pop(&kq.ready).(*keyMem))
			}
			continue
		}
		if err := r.claimID(tx, id); err != nil {
			return 0
		}
		kq.vtime = k.pass
		k.pass += 1 / float64(l.Weight(k.name))
		if k.at >= 0 {
			heap.Fix(&kq.ready, k.at)
		}
	}
	for _, k := range skipped {
		kq.sync(k, l)
	}
	if len(r.res) < allowed {
		return wait
	}
	return 0
}

// keyNext finds the next job of key k, by priority then as jobs became
// available, of a kind filter allows. It moves k's cursor past the
// entries before it, which were claimed.
func keyNext(it *pebble.Iterator, queue string, k *keyMem, filter kindFilter, id *jobID) (bool, error) {
	for prio := store.MinPriority; prio <= store.MaxPriority; prio++ {
		pm := &k.prios[prio]
		if pm.avail <= 0 {
			continue
		}
		prefix := keyAvailPrefix(queue, k.name, prio)
		first := true
		for ok := it.SeekGE(append(prefix, pm.cursor[:]...)); ok; ok = it.Next() {
			key := it.Key()
			if !bytes.HasPrefix(key, prefix) || len(key) != len(prefix)+16 {
				break
			}
			v := it.Value()
			if len(v) < 16 {
				return false, fmt.Errorf("embedded: bad keyed entry %q", key)
			}
			if !filter.allows(v[16:]) {
				first = false
				continue
			}
			copy(id[:], v)
			if first {
				pm.cursor = availPos(key[len(prefix):]).next()
			}
			return true, nil
		}
	}
	return false, nil
}

// keyHead finds the head of the sequence of key k and reports whether it
// is available and of a kind filter allows. A head that is not available
// blocks the key until one of its jobs changes (k.maybe).
func (tx *txn) keyHead(it *pebble.Iterator, queue string, k *keyMem, filter kindFilter, id *jobID) (bool, error) {
	prefix := keySeqPrefix(queue, k.name)
	if !it.SeekGE(append(prefix, k.seqCursor[:]...)) || !bytes.HasPrefix(it.Key(), prefix) || len(it.Key()) != len(prefix)+24 {
		k.maybe = false
		heap.Remove(&tx.m.queues[queue].keyed.ready, k.at)
		return false, nil
	}
	key := it.Key()
	copy(k.seqCursor[:], key[len(prefix):])
	copy(id[:], key[len(prefix)+8:])
	st, ok, err := tx.loadState(*id)
	if err != nil {
		return false, err
	}
	if !ok || st != store.StateAvailable {
		k.maybe = false
		heap.Remove(&tx.m.queues[queue].keyed.ready, k.at)
		return false, nil
	}
	return filter.allows(it.Value()), nil
}

// claimID leases the available job id.
func (r *claimReq) claimID(tx *txn, id jobID) error {
	x, err := tx.load(id)
	if err != nil || x == nil {
		tx.fail(fmt.Errorf("embedded: keyed entry names job %s: %v", idString(id), err))
	} else {
		err = r.lease(tx, x)
	}
	if tx.err != nil {
		r.err = tx.err
		return tx.err
	}
	return err
}

// loadKeys rebuilds the keys of every keyed queue of m at open: the counts
// and cursors from table 'k', the running counts from the running jobs.
func loadKeys(db pebble.Reader, m *memory) error {
	keyed := false
	for _, q := range m.queues {
		if q.limits.Keyed() {
			q.keyed = newKeyedQueue()
			keyed = true
		}
	}
	if !keyed {
		return nil
	}
	err := scan(db, []byte{tKeyed}, func(k, v []byte) error {
		queue, key, rest, ok := splitKeyed(k)
		if !ok {
			return fmt.Errorf("bad keyed entry %q", k)
		}
		q := m.queues[queue]
		if q == nil || q.keyed == nil {
			return nil // left by limits removed: SetLimits deletes them
		}
		km := q.keyed.key(key)
		switch {
		case len(rest) == 18 && rest[0] == 'a' && int(rest[1]) >= store.MinPriority && int(rest[1]) <= store.MaxPriority:
			pm := &km.prios[rest[1]]
			if pm.avail == 0 {
				pm.cursor = availPos(rest[2:])
			}
			pm.avail++
			km.avail++
			km.maybe = true
		case len(rest) == 25 && rest[0] == 's':
			if km.seq == 0 {
				km.seqCursor = [24]byte(rest[1:])
			}
			km.seq++
			km.maybe = true
		default:
			return fmt.Errorf("bad keyed entry %q", k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = scan(db, []byte{tLease}, func(k, _ []byte) error {
		if len(k) != 25 {
			return nil
		}
		x, err := loadRec(db, jobID(k[9:]))
		if err != nil || x == nil {
			return err
		}
		if q := m.queues[x.job.Queue]; q != nil && q.keyed != nil && x.job.State == store.StateRunning {
			q.keyed.key(x.job.LimitKey).running++
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, q := range m.queues {
		if q.keyed != nil {
			for _, k := range q.keyed.keys {
				q.keyed.sync(k, q.limits)
			}
		}
	}
	return nil
}

// splitKeyed splits a key of table 'k' into its queue, its limit key and
// the rest.
func splitKeyed(k []byte) (queue, key string, rest []byte, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 1 || len(k) < i+3 {
		return "", "", nil, false
	}
	n := int(binary.BigEndian.Uint16(k[i+1:]))
	if len(k) < i+3+n {
		return "", "", nil, false
	}
	return string(k[1:i]), string(k[i+3 : i+3+n]), k[i+3+n:], true
}

// rekey rebuilds the 'k' entries and the keys of queue q after its limits
// changed from old to q.limits: when the key or the order changed, from
// the queue's available jobs (and, under fifo, its scheduled, retrying and
// running ones), which costs a walk of them once. A change of the per-key
// rate only refills the buckets.
func (tx *txn) rekey(q *queueMem, old store.Limits) {
	l := q.limits
	if old.Keyed() == l.Keyed() && fifo(old) == fifo(l) && q.keyed != nil {
		if old.PerKeyRate != l.PerKeyRate || old.PerKeyBurst != l.PerKeyBurst {
			for _, k := range q.keyed.keys {
				k.tokens = store.Tokens{}
			}
		}
		for _, k := range q.keyed.keys {
			q.keyed.sync(k, l)
		}
		return
	}
	if q.keyed != nil || old.Keyed() {
		lower := keyPrefix(q.name, "")[:len(q.name)+2]
		if err := tx.b.DeleteRange(lower, prefixEnd(lower), nil); err != nil {
			tx.fail(err)
			return
		}
	}
	q.keyed = nil
	if !l.Keyed() {
		return
	}
	q.keyed = newKeyedQueue()
	// Jobs are indexed as if new in their current state.
	index := func(id jobID) error {
		x, err := tx.load(id)
		if err != nil || x == nil || x.job.Queue != q.name {
			return err
		}
		x.isNew = true
		tx.keyIndex(q, x, &x.st, &x.st)
		return nil
	}
	lower := queueKindPrefix(tAvail, q.name, "")
	lower = lower[:len(lower)-1]
	err := scan(tx.b, lower, func(k, v []byte) error {
		if len(v) != 16 {
			return fmt.Errorf("embedded: bad available entry %q", k)
		}
		return index(jobID(v))
	})
	tables := []byte{tLease}
	if fifo(l) {
		tables = append(tables, tSched)
	}
	for _, t := range tables {
		if err != nil {
			break
		}
		err = scan(tx.b, []byte{t}, func(k, _ []byte) error {
			if len(k) != 25 {
				return nil
			}
			return index(jobID(k[9:]))
		})
	}
	if err != nil {
		tx.fail(err)
	}
}

// limitStats reports q's limits at now (store.LimitStatsStore).
func (q *queueMem) limitStats(now time.Time, maxKeys int) *store.LimitStats {
	if q == nil || q.limits.Zero() {
		return nil
	}
	l := q.limits
	st := &store.LimitStats{Limits: l}
	t := q.tokens
	t.Take(l, now, 0)
	st.Tokens = t.N
	var avail int64
	for _, k := range q.kindList {
		avail += k.counts[stateByte(store.StateAvailable)]
	}
	if perSecond, _ := l.Bucket(); perSecond > 0 && t.N < 1 {
		st.Held = int(avail)
	}
	if q.keyed == nil {
		return st
	}
	kl := l.KeyLimits()
	held := 0
	var keys []store.KeyStats
	for _, k := range q.keyed.keys {
		if k.avail == 0 && k.running == 0 {
			continue
		}
		ks := store.KeyStats{Key: k.name, Available: int(k.avail), Running: int(k.running)}
		if perSecond, _ := kl.Bucket(); perSecond > 0 {
			kt := k.tokens
			kt.Take(kl, now, 0)
			ks.Tokens = kt.N
			ks.Held = kt.N < 1
		}
		if l.PerKeyConcurrency > 0 && k.running >= int64(l.PerKeyConcurrency) {
			ks.Held = true
		}
		n := int(k.avail)
		if fifo(l) && !ks.Held && n > 0 {
			n-- // the head, when available, may run; the rest wait behind it
			ks.Held = n > 0
		}
		if ks.Held && k.avail > 0 {
			held += n
		} else {
			ks.Held = false
		}
		keys = append(keys, ks)
	}
	st.Keys = len(keys)
	if st.Held == 0 {
		st.Held = held
	}
	slices.SortFunc(keys, func(a, b store.KeyStats) int {
		if c := cmp.Compare(b.Available, a.Available); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	if len(keys) > maxKeys {
		keys = keys[:maxKeys]
	}
	if len(keys) > 0 {
		st.TopKeys = keys
	}
	return st
}
