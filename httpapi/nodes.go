package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// NodeResource is a node serving the store, as its last heartbeat
// described it.
type NodeResource struct {
	ID          string    `json:"id"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// Workers is how many jobs the node may run at once; Running how many
	// it ran at its last heartbeat.
	Workers int `json:"workers"`
	Running int `json:"running"`
}

// NodeList is the answer of GET /v1/nodes.
type NodeList struct {
	Nodes []NodeResource `json:"nodes"`
}

// nodesIn is a GET /v1/nodes request.
type nodesIn struct{}

func (in *nodesIn) bind(s *Server, w http.ResponseWriter, r *http.Request) error {
	_, err := queryValues(r, nil)
	return err
}

// nodes answers GET /v1/nodes: the nodes whose last heartbeat is within
// store.NodeTimeout, by id; an empty list on a store that keeps no
// register of nodes.
func (s *Server) nodes(ctx context.Context, _ *nodesIn) (*reply, error) {
	out := NodeList{Nodes: []NodeResource{}}
	reg, ok := store.As[store.Nodes](s.client.Store())
	if !ok {
		return &reply{status: http.StatusOK, body: out}, nil
	}
	nodes, err := reg.ListNodes(ctx, &store.NodesParams{Since: s.cfg.Now().Add(-store.NodeTimeout)})
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, NodeResource{ID: n.ID, StartedAt: n.StartedAt.UTC(), HeartbeatAt: n.HeartbeatAt.UTC(),
			Workers: n.Workers, Running: n.Running})
	}
	return &reply{status: http.StatusOK, body: out}, nil
}
