package main

import (
	"context"
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
