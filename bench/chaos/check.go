package chaos

import (
	"fmt"
	"sort"
	"strings"
)

// maxViolations is how many violations a Verdict describes; the counts
// go on.
const maxViolations = 20

// Verdict is what Check found in a history.
type Verdict struct {
	Kills      int // nodes killed with SIGKILL
	DBRestarts int // database restarts in immediate mode
	InFlight   int // most jobs leased at once, from the run event

	Acknowledged int // distinct jobs whose enqueue was answered 202
	Workflows    int // workflows answered 202 (their jobs count in Acknowledged)
	Succeeded    int // acknowledged jobs that ended succeeded
	Failed       int // acknowledged jobs that ended failed
	Leases       int // jobs handed to workers
	Completions  int // completions answered 200

	// Violations of the promise, each 0 in a good run.
	Lost                       int // acknowledged, then gone (404) or never final
	WrongFinal                 int // a final state that what the workers reported does not allow
	StaleApplied               int // an outcome applied from an attempt that was no longer the job's
	SucceededWithoutCompletion int // succeeded with a result no worker sent
	LeasedAfterFinal           int // handed out again after an outcome was applied

	// Duplicates counts executions of work already done once: leases of
	// a job answered after a worker had sent its completion (or permanent
	// failure). At-least-once delivery allows them; they must stay within
	// DuplicateBound, InFlight × (Kills + DBRestarts), at least InFlight.
	Duplicates     int
	DuplicateBound int

	// Violations describes the first violations found.
	Violations []string
}

// OK reports whether the history keeps every promise.
func (v *Verdict) OK() bool {
	return v.Lost == 0 && v.WrongFinal == 0 && v.StaleApplied == 0 && v.SucceededWithoutCompletion == 0 &&
		v.LeasedAfterFinal == 0 && v.Duplicates <= v.DuplicateBound && v.Acknowledged > 0
}

// String is the verdict and its figures on a few lines.
func (v *Verdict) String() string {
	word := "PASS"
	if !v.OK() {
		word = "FAIL"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chaos verdict: %s\n", word)
	fmt.Fprintf(&b, "  kills %d, database restarts %d, in flight at most %d\n", v.Kills, v.DBRestarts, v.InFlight)
	fmt.Fprintf(&b, "  acknowledged jobs %d (%d workflows): succeeded %d, failed %d; leases %d, completions applied %d\n",
		v.Acknowledged, v.Workflows, v.Succeeded, v.Failed, v.Leases, v.Completions)
	fmt.Fprintf(&b, "  lost %d, wrong final state %d, stale applied %d, succeeded without completion %d, leased after final %d\n",
		v.Lost, v.WrongFinal, v.StaleApplied, v.SucceededWithoutCompletion, v.LeasedAfterFinal)
	fmt.Fprintf(&b, "  duplicates %d (bound %d)\n", v.Duplicates, v.DuplicateBound)
	if v.Acknowledged == 0 {
		b.WriteString("  no job was acknowledged: the run proves nothing\n")
	}
	for _, s := range v.Violations {
		fmt.Fprintf(&b, "  violation: %s\n", s)
	}
	return b.String()
}

func (v *Verdict) violate(counter *int, format string, args ...any) {
	*counter++
	if len(v.Violations) < maxViolations {
		v.Violations = append(v.Violations, fmt.Sprintf(format, args...))
	}
}

// jobHistory is what a history says about one job.
type jobHistory struct {
	acked     int64 // Seq of the first 202, 0 when never acknowledged
	leases    []Event
	outcomes  []Event // complete and fail events
	final     *Event
	maxLeased int // highest attempt leased
}

// Check reads a history and returns its verdict. It needs no server: the
// history alone decides. A request without an answer (Status 0) may or may
// not have been applied, so it allows either; an answer 200 says it was.
func Check(events []Event) *Verdict {
	v := &Verdict{}
	maxAttempts := 0
	jobs := map[string]*jobHistory{}
	job := func(id string) *jobHistory {
		j := jobs[id]
		if j == nil {
			j = &jobHistory{}
			jobs[id] = j
		}
		return j
	}
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case EventRun:
			v.InFlight, maxAttempts = e.InFlight, e.MaxAttempts
		case EventKill:
			v.Kills++
		case EventDBRestart:
			v.DBRestarts++
		case EventEnqueue:
			if e.Status == 202 && e.Workflow != "" {
				v.Workflows++
			}
			if e.Status == 202 {
				for _, id := range e.IDs {
					if j := job(id); j.acked == 0 {
						j.acked = e.Seq
					}
				}
			}
		case EventLease:
			j := job(e.Job)
			j.leases = append(j.leases, *e)
			j.maxLeased = max(j.maxLeased, e.Attempt)
			v.Leases++
		case EventComplete, EventFail:
			j := job(e.Job)
			j.outcomes = append(j.outcomes, *e)
			if e.Kind == EventComplete && e.Status == 200 {
				v.Completions++
			}
		case EventFinal:
			j := job(e.Job)
			j.final = e
		}
	}
	v.DuplicateBound = v.InFlight * max(1, v.Kills+v.DBRestarts)

	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		j := jobs[id]
		checkOutcomes(v, id, j)
		if j.acked != 0 {
			v.Acknowledged++
			checkFinal(v, id, j, maxAttempts)
		}
	}
	if v.Duplicates > v.DuplicateBound {
		v.Violations = append(v.Violations, fmt.Sprintf("%d duplicate executions, more than in flight × faults = %d", v.Duplicates, v.DuplicateBound))
	}
	return v
}

// finishing reports whether e, a complete or fail event, asked to end the
// job (a completion, or a failure with retry false).
func finishing(e *Event) bool {
	return e.Kind == EventComplete || (e.Retry != nil && !*e.Retry)
}

// mayHaveApplied reports whether the outcome e may have been applied: it
// was answered 200, or no answer came (status 0), or the answer was 503
// store_unavailable, which a node gives when its store call failed without
// knowing the outcome: a PostgreSQL connection that breaks during COMMIT
// leaves the transaction committed or not.
func mayHaveApplied(e *Event) bool {
	return e.Status == 0 || e.Status == 200 || (e.Status == 503 && e.Code == "store_unavailable")
}

// checkOutcomes checks the answers to completions and failures of one job
// against the leases known before each was sent, and counts duplicates.
func checkOutcomes(v *Verdict, id string, j *jobHistory) {
	var applied *Event // the first finishing outcome answered 200
	firstFinishSent := int64(0)
	for i := range j.outcomes {
		e := &j.outcomes[i]
		if finishing(e) && (firstFinishSent == 0 || e.Sent < firstFinishSent) {
			firstFinishSent = e.Sent
		}
		if e.Status != 200 {
			continue
		}
		newest := 0
		for _, l := range j.leases {
			if l.Seq < e.Sent {
				newest = max(newest, l.Attempt)
			}
		}
		if e.Attempt < newest {
			v.violate(&v.StaleApplied, "job %s: %s of attempt %d answered 200 (seq %d) though attempt %d was leased before it was sent",
				id, e.Kind, e.Attempt, e.Seq, newest)
		}
		if !finishing(e) {
			continue
		}
		if applied != nil && applied.Token != e.Token {
			v.violate(&v.StaleApplied, "job %s: outcomes of two attempts applied: %s of attempt %d (seq %d) and %s of attempt %d (seq %d)",
				id, applied.Kind, applied.Attempt, applied.Seq, e.Kind, e.Attempt, e.Seq)
		}
		if applied == nil {
			applied = e
		}
	}
	if applied != nil {
		for _, l := range j.leases {
			if l.Sent > applied.Seq {
				v.violate(&v.LeasedAfterFinal, "job %s: leased again (attempt %d, seq %d) after its %s was answered 200 (seq %d)",
					id, l.Attempt, l.Seq, applied.Kind, applied.Seq)
				break
			}
		}
	}
	if firstFinishSent != 0 {
		for _, l := range j.leases {
			if l.Seq > firstFinishSent {
				v.Duplicates++
			}
		}
	}
}

// checkFinal checks the final state of an acknowledged job against what
// its workers reported.
func checkFinal(v *Verdict, id string, j *jobHistory, maxAttempts int) {
	f := j.final
	switch {
	case f == nil:
		v.violate(&v.Lost, "job %s: acknowledged (seq %d), never read after the run", id, j.acked)
		return
	case f.Status != 200:
		v.violate(&v.Lost, "job %s: acknowledged (seq %d), read after the run: status %d %s", id, j.acked, f.Status, f.Err)
		return
	}
	sent := func(kind, token string, finishOnly bool) *Event {
		for i := range j.outcomes {
			e := &j.outcomes[i]
			if e.Kind == kind && e.Token == token && mayHaveApplied(e) && (!finishOnly || finishing(e)) {
				return e
			}
		}
		return nil
	}
	attemptOf := func(token string) int {
		for _, l := range j.leases {
			if l.Token == token {
				return l.Attempt
			}
		}
		return 0
	}
	var completed200, failed200 *Event
	for i := range j.outcomes {
		e := &j.outcomes[i]
		if e.Status == 200 && e.Kind == EventComplete && completed200 == nil {
			completed200 = e
		}
		if e.Status == 200 && e.Kind == EventFail && finishing(e) && failed200 == nil {
			failed200 = e
		}
	}
	switch f.State {
	case "succeeded":
		v.Succeeded++
		c := sent(EventComplete, f.ResultToken, false)
		if f.ResultToken == "" || c == nil {
			v.violate(&v.SucceededWithoutCompletion, "job %s: succeeded with result token %q that no worker sent a completion with", id, f.ResultToken)
			return
		}
		if a := attemptOf(f.ResultToken); a < j.maxLeased {
			v.violate(&v.StaleApplied, "job %s: succeeded with the result of attempt %d, but attempt %d was leased", id, a, j.maxLeased)
		}
		if completed200 != nil && completed200.Token != f.ResultToken {
			v.violate(&v.WrongFinal, "job %s: its completion of attempt %d was answered 200 (seq %d), but it holds the result of another", id, completed200.Attempt, completed200.Seq)
		}
		if failed200 != nil {
			v.violate(&v.WrongFinal, "job %s: succeeded, though its permanent failure was answered 200 (seq %d)", id, failed200.Seq)
		}
	case "failed":
		v.Failed++
		if completed200 != nil {
			v.violate(&v.WrongFinal, "job %s: failed, though its completion of attempt %d was answered 200 (seq %d)", id, completed200.Attempt, completed200.Seq)
			return
		}
		usedUp := maxAttempts > 0 && f.Attempt >= maxAttempts
		if sent(EventFail, f.ErrorToken, true) == nil && !usedUp {
			v.violate(&v.WrongFinal, "job %s: failed at attempt %d of %d, but no worker asked for a permanent failure with token %q", id, f.Attempt, maxAttempts, f.ErrorToken)
			return
		}
		if a := attemptOf(f.ErrorToken); f.ErrorToken != "" && a < j.maxLeased {
			v.violate(&v.StaleApplied, "job %s: failed with the error of attempt %d, but attempt %d was leased", id, a, j.maxLeased)
		}
	case "waiting", "scheduled", "available", "running", "retrying":
		v.violate(&v.Lost, "job %s: acknowledged, still %s after the run drained", id, f.State)
	default:
		v.violate(&v.WrongFinal, "job %s: ended %s, which no worker asked for", id, f.State)
	}
}
