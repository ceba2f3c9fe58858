package httpapi

import (
	"context"
	"net/http"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
)

// queuesIn is a GET /v1/queues request.
type queuesIn struct{}

func (in *queuesIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	_, err := queryValues(r, nil)
	return err
}

// queues answers GET /v1/queues: every queue with its counts per state,
// the age of its oldest available job, its limits and drain rate.
func (s *Server) queues(ctx context.Context, _ *queuesIn) (*reply, error) {
	infos, err := s.client.Queues(ctx)
	if err != nil {
		return nil, err
	}
	s.adm.observe(s.cfg.Now(), infos)
	out := QueueList{Queues: make([]*QueueResource, 0, len(infos))}
	for _, qi := range infos {
		out.Queues = append(out.Queues, s.queueResource(qi))
	}
	return &reply{status: http.StatusOK, body: out}, nil
}

// queueInfo returns the queue called name, if it exists: if the client
// lists it (gantry.Client.Queues says which queues exist). Only those can
// be paused or resumed without ?create=true.
func (s *Server) queueInfo(ctx context.Context, name string) (gantry.QueueInfo, bool, error) {
	infos, err := s.client.Queues(ctx)
	if err != nil {
		return gantry.QueueInfo{}, false, err
	}
	for _, qi := range infos {
		if qi.Name == name {
			return qi, true, nil
		}
	}
	return gantry.QueueInfo{}, false, nil
}

func (s *Server) queueResource(qi gantry.QueueInfo) *QueueResource {
	q := &QueueResource{
		Name:              qi.Name,
		Paused:            qi.Paused,
		Counts:            make(map[gantry.State]int64, len(store.States)),
		OldestAvailableAt: optTime(qi.OldestAvailableAt),
	}
	for _, st := range store.States {
		q.Counts[st] = qi.Counts[st]
	}
	if n := s.cfg.limitFor(qi.Name); n > 0 {
		q.Limits.MaxPending = &n
	}
	if l := qi.Limits; l != nil {
		showLimits(&q.Limits, *l)
	}
	if rate, ok := s.adm.rate(qi.Name); ok {
		q.DrainRate = &rate
	}
	return q
}

// queueIn is a POST /v1/queues/{name}/resume request, or the part of a
// pause request they share; its body, if any, is an empty object.
type queueIn struct {
	name string
	// create pauses a queue that does not exist yet, in advance.
	create bool
}

func (in *queueIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	return in.bindQuery(s, w, r)
}

// bindQuery binds the name, the query parameters allowed (none but those)
// and the body.
func (in *queueIn) bindQuery(s *Server, w http.ResponseWriter, r *http.Request, allowed ...string) error {
	in.name = r.PathValue("name")
	if !store.ValidName(in.name) {
		return badName("name", "a queue name")
	}
	q, err := queryValues(r, allowed)
	if err != nil {
		return err
	}
	switch v := q.Get("create"); v {
	case "", "false":
	case "true":
		in.create = true
	default:
		return badField("create", "create must be true or false, not %q", truncate(v, 40))
	}
	var empty struct{}
	return bindOptionalJSON(s, w, r, &empty, allowed...)
}

// pauseIn is a POST /v1/queues/{name}/pause request: ?create=true pauses
// a queue that does not exist yet.
type pauseIn struct{ queueIn }

func (in *pauseIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	return in.bindQuery(s, w, r, "create")
}

// pause answers POST /v1/queues/{name}/pause: no client claims the queue's
// jobs until it is resumed. It answers the queue; a queue that does not
// exist is 404 unless ?create=true pauses it in advance.
func (s *Server) pause(ctx context.Context, in *pauseIn) (*reply, error) {
	return s.setPaused(ctx, &in.queueIn, true)
}

// resume answers POST /v1/queues/{name}/resume; a queue that does not
// exist is 404.
func (s *Server) resume(ctx context.Context, in *queueIn) (*reply, error) {
	return s.setPaused(ctx, in, false)
}

func (s *Server) setPaused(ctx context.Context, in *queueIn, paused bool) (*reply, error) {
	if !in.create {
		if _, ok, err := s.queueInfo(ctx, in.name); err != nil {
			return nil, err
		} else if !ok {
			detail := "queue %q not found: a queue exists once it is configured or holds a job"
			if paused {
				detail += "; ?create=true pauses it in advance"
			}
			return nil, problemf(http.StatusNotFound, CodeNotFound, detail, in.name)
		}
	}
	var err error
	if paused {
		err = s.client.PauseQueue(ctx, in.name)
	} else {
		err = s.client.ResumeQueue(ctx, in.name)
	}
	if err != nil {
		return nil, err
	}
	qi, ok, err := s.queueInfo(ctx, in.name)
	if err != nil {
		return nil, err
	}
	if !ok {
		qi = gantry.QueueInfo{Name: in.name, Paused: paused}
	}
	return &reply{status: http.StatusOK, body: s.queueResource(qi)}, nil
}

// showLimits shows the stored limits l in q.
func showLimits(q *QueueLimits, l gantry.Limits) {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	num := func(n int) *int {
		if n == 0 {
			return nil
		}
		return &n
	}
	q.Rate, q.Key, q.PerKeyRate, q.Order = str(l.Rate), str(l.Key), str(l.PerKeyRate), str(l.Order)
	q.PerKeyConcurrency, q.Weights = num(l.PerKeyConcurrency), l.Weights
	if l.Rate != "" {
		q.Burst = num(max(l.Burst, 1))
	}
	if l.PerKeyRate != "" {
		q.PerKeyBurst = num(max(l.PerKeyBurst, 1))
	}
}

// LimitsRequest is the JSON body of PUT /v1/queues/{name}/limits: the
// queue's stored limits as a whole, by the names of gantry.Limits' JSON
// tags. A null or absent member is unset; an empty object removes every
// limit.
type LimitsRequest struct {
	// Rate is "N/s", "N/m" or "N/h".
	Rate *string `json:"rate"`
	// Burst is how many tokens the bucket holds at most; default 1.
	Burst *int `json:"burst"`
	// Key is where each job's limit key is read at enqueue:
	// "args.FIELD[.FIELD...]", "kind" or "queue".
	Key *string `json:"key"`
	// PerKeyConcurrency is the most jobs of one key running at once.
	PerKeyConcurrency *int `json:"per_key_concurrency"`
	// PerKeyRate and PerKeyBurst are each key's token bucket.
	PerKeyRate  *string `json:"per_key_rate"`
	PerKeyBurst *int    `json:"per_key_burst"`
	// Weights are the keys' weights in the round-robin between keys.
	Weights map[string]int `json:"weights"`
	// Order is "fifo" for sequences.
	Order *string `json:"order"`
}

// limits returns the gantry.Limits of req, or a problem naming the member
// that is an empty string (null stands for none).
func (req *LimitsRequest) limits() (gantry.Limits, error) {
	var l gantry.Limits
	for _, m := range []struct {
		name string
		in   *string
		out  *string
	}{{"rate", req.Rate, &l.Rate}, {"key", req.Key, &l.Key}, {"per_key_rate", req.PerKeyRate, &l.PerKeyRate}, {"order", req.Order, &l.Order}} {
		if m.in == nil {
			continue
		}
		if *m.in == "" {
			return l, invalidField(m.name, "%s must not be empty; null or absent for none", m.name)
		}
		*m.out = *m.in
	}
	for _, m := range []struct {
		in  *int
		out *int
	}{{req.Burst, &l.Burst}, {req.PerKeyConcurrency, &l.PerKeyConcurrency}, {req.PerKeyBurst, &l.PerKeyBurst}} {
		if m.in != nil {
			*m.out = *m.in
		}
	}
	if len(req.Weights) > 0 {
		l.Weights = req.Weights
	}
	return l, gantry.LimitsJSONError(l.Validate())
}

// limitsIn is a PUT /v1/queues/{name}/limits request.
type limitsIn struct {
	name   string
	limits gantry.Limits
}

func (in *limitsIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.name = r.PathValue("name")
	if !store.ValidName(in.name) {
		return badName("name", "a queue name")
	}
	var req LimitsRequest
	if err := bindRequiredJSON(s, w, r, &req); err != nil {
		return err
	}
	var err error
	in.limits, err = req.limits()
	return err
}

// setLimits answers PUT /v1/queues/{name}/limits: it records the queue's
// limits for every node, at once, and answers the queue. A queue that does
// not exist yet exists from then on.
func (s *Server) setLimits(ctx context.Context, in *limitsIn) (*reply, error) {
	if err := s.client.SetLimits(ctx, in.name, in.limits); err != nil {
		return nil, err
	}
	qi, ok, err := s.queueInfo(ctx, in.name)
	if err != nil {
		return nil, err
	}
	if !ok {
		qi = gantry.QueueInfo{Name: in.name}
	}
	return &reply{status: http.StatusOK, body: s.queueResource(qi)}, nil
}
