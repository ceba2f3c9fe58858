package server

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// NodeID is the name this server gives itself among the nodes of its
// store: host@address.
func (s *Server) NodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return host + "@" + s.ln.Addr().String()
}

// startBeat records this node in the store's register of nodes now and
// every store.NodeBeatInterval until the returned function is called,
// which removes it; nil when the store keeps no register.
func (s *Server) startBeat(ctx context.Context) (stop func()) {
	reg, ok := store.As[store.Nodes](s.store)
	if !ok {
		return nil
	}
	node := store.Node{ID: s.NodeID(), StartedAt: time.Now().UTC()}
	beat := func(ctx context.Context) {
		c := s.client.Capacity()
		node.HeartbeatAt, node.Workers, node.Running = time.Now().UTC(), c.Slots, c.Running
		if err := reg.BeatNode(ctx, &node); err != nil && ctx.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "node heartbeat failed", slog.String("node", node.ID), slog.Any("error", err))
		}
	}
	beat(ctx)
	bctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(store.NodeBeatInterval)
		defer t.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-t.C:
				beat(bctx)
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		rctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		if err := reg.RemoveNode(rctx, node.ID); err != nil {
			s.log.LogAttrs(rctx, slog.LevelWarn, "removing the node from the store failed", slog.String("node", node.ID), slog.Any("error", err))
		}
	}
}
