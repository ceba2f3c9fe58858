package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
)

func runQueuesList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "queues ls", "", `
Lists the queues with their jobs per state, how long the oldest available
job has waited, the admission limit, and the stored rate and key (gantry
queues limits NAME shows all of a queue's limits).`)
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
Shows a queue's stored limits, or sets them as a whole for every node on
the store, at once: --rate (and --burst) limit the queue; --key splits its
jobs by a key read at enqueue (args.FIELD, kind or queue), which the
per-key limits, --weight and --order need. Settings not given are unset;
--none removes every limit. The limits hold for in-process handlers,
leased workers and push targets alike, and survive restarts (a node whose
config file sets other limits for the queue applies its own when it
starts). See docs/limits.md.`)
	var cf clientFlags
	cf.register(e, fs)
	var in httpapi.LimitsRequest
	rate := fs.String("rate", "", "the queue's rate, N/s, N/m or N/h (e.g. 50/s)")
	burst := fs.Int("burst", 0, "how many jobs may start at once after a quiet spell (default 1)")
	key := fs.String("key", "", "where each job's limit key is read at enqueue: args.FIELD[.FIELD...], kind or queue")
	perKeyConc := fs.Int("per-key-concurrency", 0, "most jobs of one key running at once, across all nodes")
	perKeyRate := fs.String("per-key-rate", "", "each key's rate, N/s, N/m or N/h")
	perKeyBurst := fs.Int("per-key-burst", 0, "how many jobs of one key may start at once after a quiet spell (default 1)")
	fs.Func("weight", "the weight of a key in the turns between keys, as `KEY=N` with N 1 to 1000 (others weigh 1); repeatable", func(v string) error {
		// The last '=': a key may hold one, a weight does not.
		i := strings.LastIndexByte(v, '=')
		if i < 0 {
			return errors.New("want KEY=N")
		}
		k, n := v[:i], v[i+1:]
		w, err := strconv.Atoi(n)
		if err != nil {
			return errors.New("want KEY=N, N a whole number")
		}
		if in.Weights == nil {
			in.Weights = map[string]int{}
		}
		in.Weights[k] = w
		return nil
	})
	order := fs.String("order", "", `"fifo": each key is a sequence, one job at a time in enqueue order (with --per-key-concurrency 1)`)
	none := fs.Bool("none", false, "remove every limit of the queue")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	set := false
	for _, f := range []struct {
		v   *string
		out **string
	}{{rate, &in.Rate}, {key, &in.Key}, {perKeyRate, &in.PerKeyRate}, {order, &in.Order}} {
		if *f.v != "" {
			*f.out, set = f.v, true
		}
	}
	for _, f := range []struct {
		v   *int
		out **int
	}{{burst, &in.Burst}, {perKeyConc, &in.PerKeyConcurrency}, {perKeyBurst, &in.PerKeyBurst}} {
		if *f.v != 0 {
			*f.out, set = f.v, true
		}
	}
	set = set || in.Weights != nil
	switch {
	case *none && set:
		return usageErrorf("--none takes no other limit")
	case *burst != 0 && *rate == "":
		return usageErrorf("--burst needs --rate")
	case *perKeyBurst != 0 && *perKeyRate == "":
		return usageErrorf("--per-key-burst needs --per-key-rate")
	case *key == "" && (*perKeyConc != 0 || *perKeyRate != "" || in.Weights != nil || *order != ""):
		return usageErrorf("--per-key-concurrency, --per-key-rate, --weight and --order need --key")
	}
	a, err := cf.api()
	if err != nil {
		return err
	}
	var q httpapi.QueueResource
	var body []byte
	if set || *none {
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
		if !set && !*none {
			body, err = json.Marshal(q)
			if err != nil {
				return err
			}
			body = append(body, '\n')
		}
		_, err := e.stdout.Write(body)
		return err
	}
	if parts := limitParts(&q.Limits.LimitsRequest); len(parts) == 0 {
		fmt.Fprintf(e.stdout, "%s\tno limits\n", q.Name)
	} else {
		fmt.Fprintf(e.stdout, "%s\t%s\n", q.Name, strings.Join(parts, "\t"))
	}
	return nil
}

// limitParts returns the stored limits l shows, one "name value" each, by
// the names of the config file.
func limitParts(l *httpapi.LimitsRequest) []string {
	var out []string
	str := func(name string, v *string) {
		if v != nil {
			out = append(out, name+" "+*v)
		}
	}
	num := func(name string, v *int) {
		if v != nil {
			out = append(out, fmt.Sprintf("%s %d", name, *v))
		}
	}
	str("rate", l.Rate)
	num("burst", l.Burst)
	str("key", l.Key)
	num("per_key_concurrency", l.PerKeyConcurrency)
	str("per_key_rate", l.PerKeyRate)
	num("per_key_burst", l.PerKeyBurst)
	if len(l.Weights) > 0 {
		ws := make([]string, 0, len(l.Weights))
		for _, k := range slices.Sorted(maps.Keys(l.Weights)) {
			ws = append(ws, fmt.Sprintf("%s=%d", k, l.Weights[k]))
		}
		out = append(out, "weights "+strings.Join(ws, ","))
	}
	str("order", l.Order)
	return out
}
