package main

import (
	"context"
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
go on, and enqueues are still accepted.`)
}

func runQueuesResume(ctx context.Context, e *env, args []string) error {
	return queueAction(ctx, e, args, "resume", "Resumes a paused queue.")
}

func queueAction(ctx context.Context, e *env, args []string, action, description string) error {
	fs := newFlagSet(e, "queues "+action, "NAME", description)
	var cf clientFlags
	cf.register(e, fs)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	body, err := a.call(ctx, http.MethodPost, "/v1/queues/"+url.PathEscape(pos[0])+"/"+action, nil, nil, nil)
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
