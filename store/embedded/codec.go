package embedded

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

// A job is kept in two records: the spec, written once at enqueue (it
// holds the args, up to a MiB), and the state, small and rewritten on every
// transition. Both use a compact binary encoding: a version byte, then the
// fields in a fixed order as uvarints, varints (times as Unix nanoseconds,
// 0 for the zero time) and length-prefixed bytes.

// Spec version 2 (format 3) adds the workflow id, the ref and the
// dependency policy; version 1 specs are read as jobs outside workflows.
// State version 2 (format 3) adds Waits; version 1 records read as jobs
// that wait only for their DependsOn. Spec version 3 (format 6) adds the
// traceparent; older specs are read as jobs without one. State version 3
// (format 4) adds the snooze count and the first snooze's time; older
// records read as jobs never snoozed. Spec version 4 (format 7) adds the
// limit key; older specs read as jobs of the default key.
const (
	specVersion  = 4
	stateVersion = 3
)

var errCorrupt = errors.New("embedded: corrupt record")

// stateRec is the mutable part of a job plus what the store needs to find
// the job's index entries.
type stateRec struct {
	State          store.State
	Attempt        int
	RunAt          time.Time
	StartedAt      time.Time
	FinishedAt     time.Time
	Progress       *store.Progress
	Result         []byte
	Checkpoint     []byte
	CancelReason   string
	LeaseToken     string
	LeaseExpiresAt time.Time
	Errors         []store.AttemptError
	// Seq is the job's key in the available index while it is available.
	Seq uint64
	// DepsLeft counts the dependencies that have not succeeded yet while
	// the job is waiting.
	DepsLeft int
	// Since is when the job last became available.
	Since time.Time
	// Waits is true when the job waits (or waited) for other jobs: its
	// dependencies, or children it spawned or has in a workflow. A claim
	// reads their outcomes only then.
	Waits bool
	// Snoozes and FirstSnoozedAt are the job's (store.Job.Snoozes).
	Snoozes        int
	FirstSnoozedAt time.Time
}

type enc struct{ b []byte }

func (e *enc) uint(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)      { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) time(t time.Time) { e.int(timeNanos(t)) }
func (e *enc) bytes(p []byte)   { e.uint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *enc) string(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bool(v bool)      { e.b = append(e.b, boolByte(v)) }
func (e *enc) byte(v byte)      { e.b = append(e.b, v) }
func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// small decodes a non-negative int that fits comfortably in an int.
func (d *dec) small() int {
	v := d.uint()
	if v > 1<<31 {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *dec) time() time.Time { return nanosTime(d.int()) }

func (d *dec) raw() []byte {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// bytes returns a copy, or nil for an empty field.
func (d *dec) bytes() []byte {
	p := d.raw()
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *dec) string() string { return string(d.raw()) }

func (d *dec) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		return errCorrupt
	}
	return d.err
}

// encodeSpec encodes the immutable fields of j.
func encodeSpec(j *store.Job) []byte {
	e := enc{b: make([]byte, 0, 64+len(j.Args)+len(j.Kind)+len(j.Queue))}
	e.byte(specVersion)
	e.string(j.Kind)
	e.string(j.Queue)
	e.bytes(j.Args)
	e.uint(uint64(j.Priority))
	e.uint(uint64(j.MaxAttempts))
	e.int(int64(j.Timeout))
	e.string(j.UniqueKey)
	e.string(j.ParentID)
	e.time(j.CreatedAt)
	e.uint(uint64(len(j.DependsOn)))
	for _, d := range j.DependsOn {
		e.string(d)
	}
	e.bool(j.Blob != nil)
	if j.Blob != nil {
		e.string(j.Blob.Key)
		e.int(j.Blob.Size)
		e.string(j.Blob.SHA256)
		e.string(j.Blob.ContentType)
	}
	e.string(j.WorkflowID)
	e.string(j.Ref)
	e.string(string(j.IfDependencyFails))
	e.string(j.TraceParent)
	e.string(j.LimitKey)
	return e.b
}

// decodeSpec fills the immutable fields of j from b. It copies what it
// keeps, so b may be reused.
func decodeSpec(b []byte, j *store.Job) error {
	d := dec{b: b}
	v := d.byte()
	if v < 1 || v > specVersion {
		return errCorrupt
	}
	j.Kind = d.string()
	j.Queue = d.string()
	j.Args = d.bytes()
	j.Priority = d.small()
	j.MaxAttempts = d.small()
	j.Timeout = time.Duration(d.int())
	j.UniqueKey = d.string()
	j.ParentID = d.string()
	j.CreatedAt = d.time()
	if n := d.small(); n > 0 && d.err == nil {
		if n > len(d.b) {
			return errCorrupt
		}
		j.DependsOn = make([]string, n)
		for i := range j.DependsOn {
			j.DependsOn[i] = d.string()
		}
	}
	if d.bool() {
		j.Blob = &blob.Info{Key: d.string(), Size: d.int(), SHA256: d.string(), ContentType: d.string()}
	}
	if v >= 2 {
		j.WorkflowID = d.string()
		j.Ref = d.string()
		j.IfDependencyFails = store.DependencyPolicy(d.string())
	}
	if v >= 3 {
		j.TraceParent = d.string()
	}
	if v >= 4 {
		j.LimitKey = d.string()
	}
	return d.done()
}

func encodeState(s *stateRec) []byte {
	e := enc{b: make([]byte, 0, 64+len(s.Result)+len(s.Checkpoint)+len(s.CancelReason))}
	e.byte(stateVersion)
	e.byte(stateByte(s.State))
	e.uint(uint64(s.Attempt))
	e.time(s.RunAt)
	e.time(s.StartedAt)
	e.time(s.FinishedAt)
	e.bool(s.Progress != nil)
	if s.Progress != nil {
		e.int(int64(s.Progress.Percent))
		e.string(s.Progress.Message)
	}
	e.bytes(s.Result)
	e.bytes(s.Checkpoint)
	e.string(s.CancelReason)
	e.string(s.LeaseToken)
	e.time(s.LeaseExpiresAt)
	e.uint(s.Seq)
	e.uint(uint64(s.DepsLeft))
	e.time(s.Since)
	e.uint(uint64(len(s.Errors)))
	for _, ae := range s.Errors {
		e.uint(uint64(ae.Attempt))
		e.time(ae.At)
		e.string(ae.Message)
		e.string(ae.Stack)
	}
	e.bool(s.Waits)
	e.uint(uint64(s.Snoozes))
	e.time(s.FirstSnoozedAt)
	return e.b
}

func decodeState(b []byte, s *stateRec) error {
	d := dec{b: b}
	v := d.byte()
	if v < 1 || v > stateVersion {
		return errCorrupt
	}
	s.State = byteStates[d.byte()]
	if s.State == "" {
		return errCorrupt
	}
	s.Attempt = d.small()
	s.RunAt = d.time()
	s.StartedAt = d.time()
	s.FinishedAt = d.time()
	if d.bool() {
		s.Progress = &store.Progress{Percent: int(d.int()), Message: d.string()}
	}
	s.Result = d.bytes()
	s.Checkpoint = d.bytes()
	s.CancelReason = d.string()
	s.LeaseToken = d.string()
	s.LeaseExpiresAt = d.time()
	s.Seq = d.uint()
	s.DepsLeft = d.small()
	s.Since = d.time()
	if n := d.small(); n > 0 && d.err == nil {
		if n > len(d.b) {
			return errCorrupt
		}
		s.Errors = make([]store.AttemptError, n)
		for i := range s.Errors {
			s.Errors[i] = store.AttemptError{Attempt: d.small(), At: d.time(), Message: d.string(), Stack: d.string()}
		}
	}
	if v >= 2 {
		s.Waits = d.bool()
	}
	if v >= 3 {
		s.Snoozes = d.small()
		s.FirstSnoozedAt = d.time()
	}
	return d.done()
}

// toJob copies the state into j.
func (s *stateRec) toJob(j *store.Job) {
	j.State = s.State
	j.Attempt = s.Attempt
	j.RunAt = s.RunAt
	j.StartedAt = s.StartedAt
	j.FinishedAt = s.FinishedAt
	j.Progress = s.Progress
	j.Result = s.Result
	j.Checkpoint = s.Checkpoint
	j.CancelReason = s.CancelReason
	j.LeaseToken = s.LeaseToken
	j.LeaseExpiresAt = s.LeaseExpiresAt
	j.Errors = s.Errors
	j.Snoozes = s.Snoozes
	j.FirstSnoozedAt = s.FirstSnoozedAt
}

// fromJob copies the mutable fields of j into s, keeping the store's own.
func (s *stateRec) fromJob(j *store.Job) {
	s.State = j.State
	s.Attempt = j.Attempt
	s.RunAt = j.RunAt
	s.StartedAt = j.StartedAt
	s.FinishedAt = j.FinishedAt
	s.Progress = j.Progress
	s.Result = j.Result
	s.Checkpoint = j.Checkpoint
	s.CancelReason = j.CancelReason
	s.LeaseToken = j.LeaseToken
	s.LeaseExpiresAt = j.LeaseExpiresAt
	s.Errors = j.Errors
	s.Snoozes = j.Snoozes
	s.FirstSnoozedAt = j.FirstSnoozedAt
}

// wfRec is a workflow's record.
type wfRec struct {
	name       string
	createdAt  time.Time
	finishedAt time.Time
	counts     [numStates + 1]int64
}

func encodeWorkflow(w *wfRec) []byte {
	e := enc{}
	e.byte(1)
	e.string(w.name)
	e.time(w.createdAt)
	e.time(w.finishedAt)
	for _, n := range w.counts[1:] {
		e.int(n)
	}
	return e.b
}

func decodeWorkflow(b []byte, w *wfRec) error {
	d := dec{b: b}
	if d.byte() != 1 {
		return errCorrupt
	}
	w.name = d.string()
	w.createdAt = d.time()
	w.finishedAt = d.time()
	for i := 1; i <= numStates; i++ {
		w.counts[i] = d.int()
	}
	return d.done()
}

// workflow returns the store's view of w with the given id.
func (w *wfRec) workflow(id jobID) *store.Workflow {
	out := &store.Workflow{ID: idString(id), Name: w.name, CreatedAt: w.createdAt, FinishedAt: w.finishedAt,
		Counts: make(map[store.State]int64)}
	for i := 1; i <= numStates; i++ {
		if w.counts[i] != 0 {
			out.Counts[byteStates[i]] = w.counts[i]
		}
	}
	out.State = store.WorkflowStateOf(out.Counts)
	return out
}
