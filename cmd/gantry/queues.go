package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

func runQueuesList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "queues ls", "", `
Lists the queues with their jobs per state, how long the oldest available
job has waited, and the admission limit.`)
	var cf clientFlags
	cf.register(e, fs)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	var out httpapi.QueueList
	body, err := a.call(ctx, http.MethodGet, "/v1/queues", nil, nil, &out)
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	printQueueTable(e.stdout, out.Queues, time.Now())
	return nil
}

func runQueuesPause(ctx context.Context, e *env, args []string) error {
	return queueAction(ctx, e, args, "pause", `
Pauses a queue: no worker claims its jobs until it is resumed; running jobs
go on, and enqueues are still accepted. A queue exists once it is
configured or holds a job; pausing another exits 3, unless --create pauses
it in advance.`)
}

func runQueuesResume(ctx context.Context, e *env, args []string) error {
	return queueAction(ctx, e, args, "resume", `
Resumes a paused queue. Resuming a queue that does not exist exits 3.`)
}

func queueAction(ctx context.Context, e *env, args []string, action, description string) error {
	fs := newFlagSet(e, "queues "+action, "NAME", description)
	var cf clientFlags
	cf.register(e, fs)
	var create *bool
	if action == "pause" {
		create = fs.Bool("create", false, "pause the queue even if it does not exist yet, in advance of its first job")
	}
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	var q url.Values
	if create != nil && *create {
		q = url.Values{"create": {"true"}}
	}
	body, err := a.call(ctx, http.MethodPost, "/v1/queues/"+url.PathEscape(pos[0])+"/"+action, q, nil, nil)
	var pe *problemError
	if create != nil && errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return fmt.Errorf("%w\nTo pause it before its first job: gantry queues pause %s --create", err, pos[0])
	}
	if err != nil {
		return err
	}
	if cf.json {
		_, err := e.stdout.Write(body)
		return err
	}
	fmt.Fprintf(e.stdout, "%s\t%sd\n", pos[0], action)
	return nil
}

func runQueuesLimits(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "queues limits", "NAME", `
Shows a queue's stored rate limit, or sets it with --rate (and --burst) for
every node on the store, at once; --none removes it. The limit holds for
in-process handlers, leased workers and push targets alike, and survives
restarts (a node whose config file sets other limits for the queue applies
its own when it starts). See docs/limits.md.`)
	var cf clientFlags
	cf.register(e, fs)
	rate := fs.String("rate", "", "the rate, N/s, N/m or N/h (e.g. 50/s)")
	burst := fs.Int("burst", 0, "how many jobs may start at once after a quiet spell (default 1)")
	none := fs.Bool("none", false, "remove the queue's rate limit")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *none && (*rate != "" || *burst != 0) {
		return usageErrorf("--none takes neither --rate nor --burst")
	}
	if *burst != 0 && *rate == "" {
		return usageErrorf("--burst needs --rate")
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	var q httpapi.QueueResource
	var body []byte
	if *rate != "" || *none {
		in := httpapi.LimitsRequest{}
		if !*none {
			in.Rate = rate
			if *burst != 0 {
				in.Burst = burst
			}
		}
		body, err = a.call(ctx, http.MethodPut, "/v1/queues/"+url.PathEscape(pos[0])+"/limits", nil, in, &q)
	} else {
		var out httpapi.QueueList
		body, err = a.call(ctx, http.MethodGet, "/v1/queues", nil, nil, &out)
		found := false
		for _, qr := range out.Queues {
			if qr.Name == pos[0] {
				q, found = *qr, true
			}
		}
		if err == nil && !found {
			return &problemError{Problem: httpapi.Problem{Status: http.StatusNotFound, Code: httpapi.CodeNotFound,
				Detail: fmt.Sprintf("queue %q not found: a queue exists once it is configured, holds a job or has limits", pos[0])}}
		}
	}
	if err != nil {
		return err
	}
	if cf.json {
		if *rate == "" && !*none {
			body, err = json.Marshal(q)
			if err != nil {
				return err
			}
			body = append(body, '\n')
		}
		_, err := e.stdout.Write(body)
		return err
	}
	if q.Limits.Rate == nil {
		fmt.Fprintf(e.stdout, "%s\tno rate limit\n", q.Name)
	} else {
		fmt.Fprintf(e.stdout, "%s\trate %s\tburst %d\n", q.Name, *q.Limits.Rate, *q.Limits.Burst)
	}
	return nil
}
