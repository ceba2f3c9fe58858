package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Kinds of Event.
const (
	// EventRun opens a history: the run's parameters (InFlight,
	// MaxAttempts).
	EventRun = "run"
	// EventEnqueue is a POST /v1/jobs, /v1/jobs/batch or /v1/workflows
	// and its answer; IDs are the jobs acknowledged (status 202), none
	// otherwise, and Workflow the workflow's id.
	EventEnqueue = "enqueue"
	// EventLease is one job handed to a worker by a lease answer.
	EventLease = "lease"
	// EventHeartbeat is a heartbeat and its answer.
	EventHeartbeat = "heartbeat"
	// EventComplete is a POST /v1/jobs/{id}/complete and its answer.
	EventComplete = "complete"
	// EventFail is a POST /v1/jobs/{id}/fail and its answer; Retry false
	// asked for a permanent failure.
	EventFail = "fail"
	// EventKill is a node killed with SIGKILL; EventStart a node
	// (re)started; EventDBRestart the database stopped in immediate mode
	// and started again.
	EventKill      = "kill"
	EventStart     = "start"
	EventDBRestart = "db_restart"
	// EventFinal is the state of an acknowledged job read after the run
	// drained: Status 200 with State, Attempt, ResultToken and ErrorToken,
	// or the status of the read (404: the job is gone).
	EventFinal = "final"
)

// Event is one line of a history. Seq numbers events in the order they
// were recorded (an answer is recorded when it arrived); Sent is the Seq
// the history had reached when the request was sent, so that an answer
// can be ordered against what was known before its request left.
type Event struct {
	Seq  int64     `json:"seq"`
	Sent int64     `json:"sent,omitempty"`
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	// Who: "client-3", "worker-1", "supervisor", "checker".
	Who string `json:"who,omitempty"`
	// Node is the URL the request went to, or the node killed/started.
	Node string `json:"node,omitempty"`

	IDs   []string `json:"ids,omitempty"`   // enqueue: acknowledged ids
	Count int      `json:"count,omitempty"` // enqueue: jobs in the request
	Job   string   `json:"job,omitempty"`
	// Workflow is the id of the workflow an enqueue created.
	Workflow string `json:"workflow,omitempty"`

	Attempt int    `json:"attempt,omitempty"`
	Token   string `json:"token,omitempty"`
	Retry   *bool  `json:"retry,omitempty"`

	// Status is the HTTP status of the answer; 0 means none came (the
	// connection failed or broke), so the request may or may not have
	// been applied. Err says why.
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	Err    string `json:"err,omitempty"`

	// final
	State       string `json:"state,omitempty"`
	ResultToken string `json:"result_token,omitempty"`
	ErrorToken  string `json:"error_token,omitempty"`

	// run
	InFlight    int `json:"in_flight,omitempty"`
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// History appends events to a writer, one JSON line each, and keeps them
// for Check. It is safe for concurrent use.
type History struct {
	mu     sync.Mutex
	w      *bufio.Writer
	events []Event
	err    error
}

// NewHistory returns a history that writes to w (nil: kept in memory
// only).
func NewHistory(w io.Writer) *History {
	h := &History{}
	if w != nil {
		h.w = bufio.NewWriterSize(w, 64<<10)
	}
	return h
}

// Seq returns the sequence number the next event will get, for Event.Sent.
func (h *History) Seq() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.events)) + 1
}

// Add records e, giving it its Seq and, when unset, its time.
func (h *History) Add(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e.Seq = int64(len(h.events)) + 1
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	h.events = append(h.events, e)
	if h.w != nil && h.err == nil {
		b, _ := json.Marshal(e)
		b = append(b, '\n')
		_, h.err = h.w.Write(b)
	}
}

// Events returns a copy of the events recorded so far.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// Flush writes what is buffered and returns the first write error.
func (h *History) Flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w != nil && h.err == nil {
		h.err = h.w.Flush()
	}
	return h.err
}

// ReadHistory reads a history written by History: one Event a line.
func ReadHistory(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var events []Event
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("gantry: chaos history line %d: %w", n, err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gantry: chaos history: %w", err)
	}
	return events, nil
}
