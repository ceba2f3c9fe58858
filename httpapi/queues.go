package httpapi

import (
	"context"
	"net/http"
	"sort"

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
	sort.Slice(out.Queues, func(i, j int) bool { return out.Queues[i].Name < out.Queues[j].Name })
	return &reply{status: http.StatusOK, body: out}, nil
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
	if rate, ok := s.adm.rate(qi.Name); ok {
		q.DrainRate = &rate
	}
	return q
}

// queueIn is a POST /v1/queues/{name}/pause or resume request; its body,
// if any, is an empty object.
type queueIn struct {
	name string
}

func (in *queueIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	in.name = r.PathValue("name")
	if !store.ValidName(in.name) {
		return badName("name", "a queue name")
	}
	var empty struct{}
	return bindOptionalJSON(s, w, r, &empty)
}

// pause answers POST /v1/queues/{name}/pause: no client claims the queue's
// jobs until it is resumed. It answers the queue.
func (s *Server) pause(ctx context.Context, in *queueIn) (*reply, error) {
	return s.setPaused(ctx, in.name, true)
}

// resume answers POST /v1/queues/{name}/resume.
func (s *Server) resume(ctx context.Context, in *queueIn) (*reply, error) {
	return s.setPaused(ctx, in.name, false)
}

func (s *Server) setPaused(ctx context.Context, name string, paused bool) (*reply, error) {
	var err error
	if paused {
		err = s.client.PauseQueue(ctx, name)
	} else {
		err = s.client.ResumeQueue(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	infos, err := s.client.Queues(ctx)
	if err != nil {
		return nil, err
	}
	qi := gantry.QueueInfo{Name: name, Paused: paused}
	for _, i := range infos {
		if i.Name == name {
			qi = i
			break
		}
	}
	return &reply{status: http.StatusOK, body: s.queueResource(qi)}, nil
}
