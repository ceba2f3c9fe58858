package embedded

// A fan-in (a job waiting for many dependencies, such as a parent for its
// children) is counted down in memory within a group: the first
// dependency of the group to succeed loads the dependent, the others count
// it down in the group's copy, and the group writes its state record once,
// when it commits (writeMemory). The committer is the only writer and the
// group commits atomically, so no reader sees a count between the two and
// a crash loses none of it.

// deferDepsLeft keeps r, a waiting job whose only change is its DepsLeft,
// as the group's copy of it, to be written when the group commits.
func (tx *txn) deferDepsLeft(r *rec) {
	if tx.fanin == nil {
		tx.fanin = make(map[jobID]*rec)
	}
	c := *r
	tx.fanin[r.id] = &c
}

// deferred returns a copy of the group's copy of job id, if it has one.
func (tx *txn) deferred(id jobID) (*rec, bool) {
	x, ok := tx.fanin[id]
	if !ok {
		return nil, false
	}
	c := *x
	return &c, true
}

// writeDeferred writes the state records the group counted down.
func (tx *txn) writeDeferred() {
	for id, r := range tx.fanin {
		tx.set(idKey(tState, id), encodeState(&r.st))
	}
}
