package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

// table returns a writer that aligns tab-separated columns; Flush it.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func printJobTable(w io.Writer, jobs []*httpapi.JobResource, now time.Time) {
	if len(jobs) == 0 {
		fmt.Fprintln(w, "no jobs")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tPROGRESS\tATTEMPT\tCREATED")
	for _, j := range jobs {
		progress := "-"
		if j.Progress != nil {
			progress = fmt.Sprintf("%d%%", j.Progress.Percent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", j.ID, j.Kind, j.Queue, j.State, progress, j.Attempt, j.MaxAttempts, ago(now, j.CreatedAt))
	}
	tw.Flush()
}

func printJob(w io.Writer, j *httpapi.JobResource) {
	tw := table(w)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, args...)...)
	}
	row("id", "%s", j.ID)
	row("kind", "%s", j.Kind)
	row("queue", "%s", j.Queue)
	row("state", "%s", j.State)
	if j.CancelReason != "" {
		row("cancel reason", "%s", j.CancelReason)
	}
	row("attempt", "%d of %d", j.Attempt, j.MaxAttempts)
	row("priority", "%d", j.Priority)
	row("created", "%s", stamp(j.CreatedAt))
	row("run at", "%s", stamp(j.RunAt))
	if j.StartedAt != nil {
		row("started", "%s", stamp(*j.StartedAt))
	}
	if j.FinishedAt != nil {
		row("finished", "%s", stamp(*j.FinishedAt))
		if j.StartedAt != nil {
			row("took", "%v", j.FinishedAt.Sub(*j.StartedAt).Round(time.Millisecond))
		}
	}
	if j.Progress != nil {
		row("progress", "%d%% %s", j.Progress.Percent, j.Progress.Message)
	}
	if j.UniqueKey != "" {
		row("unique key", "%s", j.UniqueKey)
	}
	if len(j.DependsOn) > 0 {
		row("depends on", "%s", strings.Join(j.DependsOn, ", "))
	}
	if j.ParentID != nil {
		row("parent", "%s", *j.ParentID)
	}
	row("args", "%s", compact(j.Args))
	if j.Blob != nil {
		row("payload", "%d bytes, %s, sha256 %s", j.Blob.Size, j.Blob.ContentType, j.Blob.SHA256)
	}
	if len(j.Result) > 0 && string(j.Result) != "null" {
		row("result", "%s", compact(j.Result))
	}
	for _, e := range j.Errors {
		row(fmt.Sprintf("error %d", e.Attempt), "%s  %s", stamp(e.At), firstLine(e.Message))
	}
	tw.Flush()
}

func printQueueTable(w io.Writer, qs []*httpapi.QueueResource, now time.Time) {
	if len(qs) == 0 {
		fmt.Fprintln(w, "no queues")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "QUEUE\tPAUSED\tAVAILABLE\tRUNNING\tSCHEDULED\tRETRYING\tWAITING\tSUCCEEDED\tFAILED\tCANCELLED\tOLDEST\tLIMIT\tRATE/KEY")
	for _, q := range qs {
		paused := "no"
		if q.Paused {
			paused = "yes"
		}
		oldest := "-"
		if q.OldestAvailableAt != nil {
			oldest = strings.TrimSuffix(ago(now, *q.OldestAvailableAt), " ago")
		}
		limit := "-"
		if q.Limits.MaxPending != nil {
			limit = fmt.Sprint(*q.Limits.MaxPending)
		}
		// The stored rate and key; gantry queues limits NAME shows the rest.
		var flow []string
		if r := q.Limits.Rate; r != nil {
			flow = append(flow, *r)
		}
		if k := q.Limits.Key; k != nil {
			flow = append(flow, "key "+*k)
		}
		if len(flow) == 0 {
			flow = []string{"-"}
		}
		c := q.Counts
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", q.Name, paused,
			c[gantry.StateAvailable], c[gantry.StateRunning], c[gantry.StateScheduled], c[gantry.StateRetrying], c[gantry.StateWaiting],
			c[gantry.StateSucceeded], c[gantry.StateFailed], c[gantry.StateCancelled], oldest, limit, strings.Join(flow, " "))
	}
	tw.Flush()
}

// stamp formats a time for people, in the local zone.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000 MST")
}

// ago says how long before now t was, roughly.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "-"
	case d < 0:
		return "in " + roughly(-d)
	case d < time.Second:
		return "just now"
	}
	return roughly(d) + " ago"
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// compact returns JSON on one line, shortened for a terminal.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	const maxLen = 400
	if b.Len() > maxLen {
		return b.String()[:maxLen] + "... (--json shows all)"
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
