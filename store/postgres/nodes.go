package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/gantry-dev/gantry/store"
)

var _ store.Nodes = (*Store)(nil)

// BeatNode records the node's heartbeat in the nodes table (store.Nodes)
// and deletes the nodes that have not beaten for store.NodeRetention.
func (s *Store) BeatNode(ctx context.Context, n *store.Node) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO `+s.q.schema+`.nodes (id, started_at, heartbeat_at, workers, running)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at,
			workers = EXCLUDED.workers, running = EXCLUDED.running`,
		n.ID, n.StartedAt, n.HeartbeatAt, n.Workers, n.Running)
	b.Queue(`DELETE FROM `+s.q.schema+`.nodes WHERE heartbeat_at < $1`, n.HeartbeatAt.Add(-store.NodeRetention))
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return s.wrap("beat node", err)
	}
	return nil
}

// ListNodes returns the nodes that beat since p.Since, by ID
// (store.Nodes).
func (s *Store) ListNodes(ctx context.Context, p *store.NodesParams) ([]store.Node, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var since store.NodesParams
	if p != nil {
		since = *p
	}
	rows, err := s.pool.Query(ctx, `SELECT id, started_at, heartbeat_at, workers, running FROM `+s.q.schema+`.nodes
		WHERE heartbeat_at >= $1 ORDER BY id`, since.Since)
	if err != nil {
		return nil, s.wrap("list nodes", err)
	}
	out := []store.Node{}
	var n store.Node
	if _, err := pgx.ForEachRow(rows, []any{&n.ID, &n.StartedAt, &n.HeartbeatAt, &n.Workers, &n.Running}, func() error {
		n.StartedAt, n.HeartbeatAt = n.StartedAt.UTC(), n.HeartbeatAt.UTC()
		out = append(out, n)
		return nil
	}); err != nil {
		return nil, s.wrap("list nodes", err)
	}
	return out, nil
}

// RemoveNode deletes the node's row (store.Nodes).
func (s *Store) RemoveNode(ctx context.Context, id string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.q.schema+`.nodes WHERE id = $1`, id); err != nil {
		return s.wrap("remove node", err)
	}
	return nil
}
