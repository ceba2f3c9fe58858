package embedded

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/store"
)

var _ store.Nodes = (*Store)(nil)

// nodes is the embedded store's register of nodes. The data dir is open
// in one process at a time, so it holds that process's node: it lives in
// memory and is not written to disk.
type nodes struct {
	mu sync.Mutex
	by map[string]store.Node
}

func (n *nodes) beat(node store.Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.by == nil {
		n.by = make(map[string]store.Node)
	}
	n.by[node.ID] = node
}

// BeatNode records the node's heartbeat (store.Nodes).
func (s *Store) BeatNode(ctx context.Context, n *store.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.nodes.beat(*n)
	return nil
}

// ListNodes returns the nodes that beat since p.Since, by ID
// (store.Nodes).
func (s *Store) ListNodes(ctx context.Context, p *store.NodesParams) ([]store.Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.nodes.mu.Lock()
	defer s.nodes.mu.Unlock()
	out := make([]store.Node, 0, len(s.nodes.by))
	for _, n := range s.nodes.by {
		if p == nil || !n.HeartbeatAt.Before(p.Since) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b store.Node) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// RemoveNode forgets the node (store.Nodes).
func (s *Store) RemoveNode(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.nodes.mu.Lock()
	defer s.nodes.mu.Unlock()
	delete(s.nodes.by, id)
	return nil
}
