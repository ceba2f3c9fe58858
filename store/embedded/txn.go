package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// txn is one group's batch and what the group changed in memory. Reads
// through it see the group's own writes.
type txn struct {
	s *Store
	b *pebble.Batch
	m *memory
	// err is the first error writing to the batch; the group then fails.
	err     error
	sync    bool
	changes []store.Change
	// dirtyCounts and dirtyCursors name the counters and cursors to
	// persist at the end of the group.
	dirtyCounts  map[countID]struct{}
	dirtyCursors map[cursorID]struct{}
	dirtySeq     bool
	// cascade holds jobs that became final whose dependents need updating.
	cascade []cascadeItem
	// wfs caches the workflow records the group read or changed.
	wfs map[jobID]*wfEntry
	// fanin holds the waiting jobs the group counted down and has not
	// written yet (see deferDepsLeft).
	fanin map[jobID]*rec
}

// wfEntry is a workflow record loaded by a group.
type wfEntry struct {
	rec   wfRec
	dirty bool
}

type countID struct {
	queue, kind string
	state       store.State
}

type cursorID struct {
	queue, kind string
	prio        int
}

type cascadeItem struct {
	r   *rec
	now time.Time
}

func (s *Store) newTxn() *txn {
	return &txn{
		s:            s,
		b:            s.db.NewIndexedBatch(),
		m:            s.mem,
		dirtyCounts:  make(map[countID]struct{}),
		dirtyCursors: make(map[cursorID]struct{}),
	}
}

func (tx *txn) set(k, v []byte) {
	if err := tx.b.Set(k, v, nil); err != nil && tx.err == nil {
		tx.err = err
	}
}

func (tx *txn) del(k []byte) {
	if err := tx.b.Delete(k, nil); err != nil && tx.err == nil {
		tx.err = err
	}
}

// singleDel deletes a key written exactly once since it was last deleted,
// leaving no tombstone behind once compaction meets the two.
func (tx *txn) singleDel(k []byte) {
	if err := tx.b.SingleDelete(k, nil); err != nil && tx.err == nil {
		tx.err = err
	}
}

// get returns a copy of the value of k, or nil and false when k does not
// exist.
func (tx *txn) get(k []byte) ([]byte, bool, error) {
	return getCopy(tx.b, k)
}

func getCopy(r pebble.Reader, k []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

// rec is a job loaded for change: the job as callers see it, its stored
// state record, and the state as it was stored, to tell which index
// entries to move.
type rec struct {
	id    jobID
	job   store.Job
	st    stateRec
	old   stateRec
	isNew bool
}

// load reads the job with the given id, or returns nil when there is none.
// Running jobs come from memory (see memory.running) when they are there.
func (tx *txn) load(id jobID) (*rec, error) {
	if x, ok := tx.m.running[id]; ok {
		c := *x
		return &c, nil
	}
	if x, ok := tx.deferred(id); ok {
		return x, nil
	}
	return loadRec(tx.b, id)
}

func loadRec(r pebble.Reader, id jobID) (*rec, error) {
	sv, ok, err := getCopyNoAlloc(r, idKey(tState, id), nil)
	if err != nil || !ok {
		return nil, err
	}
	x := &rec{id: id}
	if err := decodeState(sv, &x.st); err != nil {
		return nil, fmt.Errorf("embedded: job %s: state: %w", idString(id), err)
	}
	ok, err = getSpec(r, id, &x.job)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("embedded: job %s has a state but no spec", idString(id))
	}
	x.job.ID = idString(id)
	x.st.toJob(&x.job)
	x.old = x.st
	return x, nil
}

func getSpec(r pebble.Reader, id jobID, j *store.Job) (bool, error) {
	v, closer, err := r.Get(idKey(tSpec, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if err := decodeSpec(v, j); err != nil {
		return false, fmt.Errorf("embedded: job %s: spec: %w", idString(id), err)
	}
	return true, nil
}

func getCopyNoAlloc(r pebble.Reader, k, buf []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append(buf[:0], v...)
	closer.Close()
	return out, true, nil
}

// loadState reads only the state of the job with the given id.
func (tx *txn) loadState(id jobID) (store.State, bool, error) {
	v, closer, err := tx.b.Get(idKey(tState, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer closer.Close()
	if len(v) < 2 || byteStates[v[1]] == "" {
		return "", false, fmt.Errorf("embedded: job %s: state: %w", idString(id), errCorrupt)
	}
	return byteStates[v[1]], true, nil
}

func (tx *txn) nextSeq() uint64 {
	tx.m.seq++
	tx.dirtySeq = true
	return tx.m.seq
}

func (tx *txn) count(queue, kind string, s store.State, delta int64) {
	k := tx.m.queue(queue).kind(kind)
	k.counts[stateByte(s)] += delta
	tx.dirtyCounts[countID{queue, kind, s}] = struct{}{}
}

func (tx *txn) availCount(queue, kind string, prio int, delta int64) *prioMem {
	pm := &tx.m.queue(queue).kind(kind).prios[prio]
	pm.avail += delta
	tx.dirtyCursors[cursorID{queue, kind, prio}] = struct{}{}
	return pm
}

func isSched(s store.State) bool { return s == store.StateScheduled || s == store.StateRetrying }

// save writes r's state and moves its index entries, counters and cursors
// from the state it was loaded in to the one its job is in now. since is
// when the job becomes available, if it does.
func (tx *txn) save(r *rec, since time.Time) {
	old := r.old
	n := &r.st
	n.fromJob(&r.job)
	j := &r.job
	id := r.id

	// Available index.
	wasAvail, isAvail := old.State == store.StateAvailable, n.State == store.StateAvailable
	if wasAvail && !isAvail {
		tx.singleDel(availKey(j.Queue, j.Kind, j.Priority, makeAvailPos(old.Since, old.Seq)))
		tx.availCount(j.Queue, j.Kind, j.Priority, -1)
	}
	if isAvail && !wasAvail {
		n.Seq = tx.nextSeq()
		n.Since = since
		pos := makeAvailPos(since, n.Seq)
		tx.set(availKey(j.Queue, j.Kind, j.Priority, pos), id[:])
		pm := tx.availCount(j.Queue, j.Kind, j.Priority, 1)
		// An entry that became available earlier than the cursor (a job
		// promoted late, at its RunAt) pulls the cursor back to it.
		if bytes.Compare(pos[:], pm.cursor[:]) < 0 {
			pm.cursor = pos
		}
	}
	if q := tx.m.queues[j.Queue]; q != nil && q.keyed != nil && (old.State != n.State || r.isNew) {
		tx.keyIndex(q, r, &old, n)
	}
	// Scheduled, lease and finished indexes.
	tx.moveTimeIndex(tSched, &tx.m.schedLow, id, isSched(old.State), old.RunAt, isSched(n.State), n.RunAt)
	if isSched(n.State) && (tx.m.schedNext.IsZero() || n.RunAt.Before(tx.m.schedNext)) {
		tx.m.schedNext = n.RunAt
	}
	tx.moveTimeIndex(tLease, &tx.m.leaseLow, id,
		old.State == store.StateRunning, old.LeaseExpiresAt, n.State == store.StateRunning, n.LeaseExpiresAt)
	tx.moveTimeIndex(tFinished, &tx.m.finLow, id, old.State.Final(), old.FinishedAt, n.State.Final(), n.FinishedAt)

	if old.State != n.State {
		if !r.isNew {
			tx.singleDel(stateKey(old.State, id))
			tx.count(j.Queue, j.Kind, old.State, -1)
		}
		tx.set(stateKey(n.State, id), nil)
		tx.count(j.Queue, j.Kind, n.State, 1)
		if j.WorkflowID != "" {
			var from store.State
			if !r.isNew {
				from = old.State
			}
			tx.wfCount(j.WorkflowID, from, n.State, since)
		}
	}
	if j.UniqueKey != "" {
		wasHeld := !r.isNew && !old.State.Final()
		isHeld := !n.State.Final()
		switch {
		case wasHeld && !isHeld:
			tx.del(strKey(tUnique, j.UniqueKey))
		case isHeld && !wasHeld:
			tx.set(strKey(tUnique, j.UniqueKey), id[:])
		}
	}
	if r.isNew {
		tx.set(idKey(tSpec, id), encodeSpec(j))
	}
	tx.set(idKey(tState, id), encodeState(n))
	delete(tx.fanin, id)

	if old.State != n.State || r.isNew {
		tx.change(r, false)
		if n.State.Final() && !old.State.Final() && !r.isNew && tx.m.mayHaveDeps {
			tx.cascade = append(tx.cascade, cascadeItem{r: r, now: since})
		}
	}
	r.old = *n
	r.isNew = false
	tx.m.remember(r)
}

// moveTimeIndex moves id's entry in a time index (t, l or f) from the old
// time, when it had one, to the new, when it has one.
func (tx *txn) moveTimeIndex(table byte, low *[]byte, id jobID, had bool, oldT time.Time, has bool, newT time.Time) {
	if had && has && oldT.Equal(newT) {
		return
	}
	if had {
		tx.singleDel(timeIDKey(table, oldT, id))
	}
	if has {
		k := timeIDKey(table, newT, id)
		tx.set(k, nil)
		*low = minKey(*low, k)
	}
}

// change records a change of r for the listeners.
func (tx *txn) change(r *rec, progress bool) {
	snap := r.job
	snap.LeaseToken = ""
	tx.changes = append(tx.changes, store.Change{
		ID: snap.ID, Queue: snap.Queue, Kind: snap.Kind, State: snap.State, Progress: progress, Job: &snap,
	})
}

// runCascades updates the dependents of the jobs that became final: a
// dependency that succeeded (or, for a dependent with DependencyRun, ended
// at all) counts down its waiting dependents' DepsLeft, which become
// available at zero; one that failed or was cancelled cancels its other
// dependents that are not final (a running one loses its lease),
// transitively. The edges stay, for a later retry.
func (tx *txn) runCascades() {
	for len(tx.cascade) > 0 {
		c := tx.cascade[0]
		tx.cascade = tx.cascade[1:]
		dependents, err := tx.edges(tDep, c.r.id)
		if err != nil {
			tx.fail(err)
			return
		}
		for _, d := range dependents {
			r, err := tx.load(d)
			if err != nil {
				tx.fail(err)
				return
			}
			if r == nil || r.job.State.Final() {
				continue
			}
			runs := c.r.job.State == store.StateSucceeded || r.job.IfDependencyFails == store.DependencyRun
			if r.job.State != store.StateWaiting {
				// A job that runs while it waits for others (a parent that
				// spawned children) is cancelled by one that did not succeed.
				if !runs {
					store.CancelForDependency(&r.job, c.r.job.ID, c.r.job.State, c.now)
					tx.save(r, c.now)
				}
				continue
			}
			if runs {
				r.st.DepsLeft--
				if r.st.DepsLeft > 0 {
					tx.deferDepsLeft(r)
					tx.m.remember(r)
					continue
				}
				store.ReleaseDependent(&r.job, c.now)
			} else {
				store.CancelForDependency(&r.job, c.r.job.ID, c.r.job.State, c.now)
			}
			tx.save(r, c.now)
		}
	}
}

// edges returns the ids after id in table (tDep: its dependents; tBlocked:
// the jobs it waits for).
func (tx *txn) edges(table byte, id jobID) ([]jobID, error) {
	prefix := idKey(table, id)
	var out []jobID
	err := scan(tx.b, prefix, func(k, _ []byte) error {
		if len(k) == len(prefix)+16 {
			out = append(out, jobID(k[len(prefix):]))
		}
		return nil
	})
	return out, err
}

// loadWorkflow returns the record of workflow id, from the group's cache
// or the database, or nil when there is none.
func (tx *txn) loadWorkflow(id jobID) (*wfEntry, error) {
	if w, ok := tx.wfs[id]; ok {
		return w, nil
	}
	v, ok, err := tx.get(idKey(tWorkflow, id))
	if err != nil || !ok {
		return nil, err
	}
	w := &wfEntry{}
	if err := decodeWorkflow(v, &w.rec); err != nil {
		return nil, fmt.Errorf("embedded: workflow %s: %w", idString(id), err)
	}
	if tx.wfs == nil {
		tx.wfs = make(map[jobID]*wfEntry)
	}
	tx.wfs[id] = w
	return w, nil
}

// wfCount moves one job of workflow wf from state from (none when empty)
// to state to.
func (tx *txn) wfCount(wf string, from, to store.State, now time.Time) {
	id, ok := parseID(wf)
	if !ok {
		tx.fail(fmt.Errorf("embedded: bad workflow id %q", wf))
		return
	}
	w, err := tx.loadWorkflow(id)
	if err == nil && w == nil {
		err = fmt.Errorf("embedded: workflow %s has no record", wf)
	}
	if err != nil {
		tx.fail(err)
		return
	}
	if from != "" {
		w.rec.counts[stateByte(from)]--
	}
	w.rec.counts[stateByte(to)]++
	w.dirty = true
	switch final := w.rec.workflow(id).State.Final(); {
	case final && w.rec.finishedAt.IsZero():
		w.rec.finishedAt = now
	case !final:
		w.rec.finishedAt = time.Time{}
	}
}

// fail makes the whole group fail: used for errors reading the database,
// after which the batch cannot be trusted.
func (tx *txn) fail(err error) {
	if tx.err == nil {
		tx.err = err
	}
}

// writeMemory persists the counters, cursors and seq the group changed.
func (tx *txn) writeMemory() {
	for c := range tx.dirtyCounts {
		n := tx.m.queue(c.queue).kind(c.kind).counts[stateByte(c.state)]
		tx.set(countKey(c.queue, c.kind, c.state), binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	for c := range tx.dirtyCursors {
		p := tx.m.queue(c.queue).kind(c.kind).prios[c.prio]
		v := append(make([]byte, 0, 24), p.cursor[:]...)
		tx.set(cursorKey(c.queue, c.kind, c.prio), binary.BigEndian.AppendUint64(v, uint64(p.avail)))
	}
	for id, w := range tx.wfs {
		if !w.dirty {
			continue
		}
		tx.set(idKey(tWorkflow, id), encodeWorkflow(&w.rec))
	}
	tx.writeDeferred()
	if tx.dirtySeq {
		tx.set(keyNextSeq, binary.BigEndian.AppendUint64(nil, tx.m.seq))
	}
}
