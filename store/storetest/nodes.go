package storetest

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// testNodes checks the register of nodes (store.Nodes), on drivers that
// have one: a beat adds or updates a node, ListNodes leaves out those
// that have not beaten since, RemoveNode forgets one, and a node that has
// not beaten for store.NodeRetention may be forgotten by the next beat.
func testNodes(t *testing.T, open opener) {
	t.Run("Register", func(t *testing.T) { testNodeRegister(t, open) })
}

func testNodeRegister(t *testing.T, open opener) {
	h := setup(t, open)
	n, ok := store.As[store.Nodes](h.d)
	if !ok {
		t.Skipf("%T does not implement store.Nodes", h.d)
	}
	start := h.now
	beat := func(id string, at time.Time, running int) {
		t.Helper()
		if err := n.BeatNode(h.ctx, &store.Node{ID: id, StartedAt: start, HeartbeatAt: at, Workers: 8, Running: running}); err != nil {
			t.Fatalf("BeatNode %s: %v", id, err)
		}
	}
	list := func(since time.Time) []store.Node {
		t.Helper()
		nodes, err := n.ListNodes(h.ctx, &store.NodesParams{Since: since})
		if err != nil {
			t.Fatalf("ListNodes: %v", err)
		}
		return nodes
	}
	ids := func(nodes []store.Node) []string {
		out := []string{}
		for _, x := range nodes {
			out = append(out, x.ID)
		}
		return out
	}
	if got := list(time.Time{}); len(got) != 0 {
		t.Fatalf("a new store lists nodes %v", ids(got))
	}
	beat("b@127.0.0.1:2", start, 0)
	beat("a@127.0.0.1:1", start, 1)
	beat("a@127.0.0.1:1", start.Add(10*time.Second), 3)
	got := list(start)
	if len(got) != 2 || got[0].ID != "a@127.0.0.1:1" || got[1].ID != "b@127.0.0.1:2" {
		t.Fatalf("ListNodes = %v, want a then b", ids(got))
	}
	a := got[0]
	if !a.HeartbeatAt.Equal(start.Add(10*time.Second)) || !a.StartedAt.Equal(start) || a.Workers != 8 || a.Running != 3 {
		t.Errorf("node a after its second beat: %+v", a)
	}
	if got := list(start.Add(5 * time.Second)); len(got) != 1 || got[0].ID != "a@127.0.0.1:1" {
		t.Errorf("nodes that beat in the last 5 s: %v, want only a", ids(got))
	}
	if err := n.RemoveNode(h.ctx, "a@127.0.0.1:1"); err != nil {
		t.Fatalf("RemoveNode: %v", err)
	}
	if err := n.RemoveNode(h.ctx, "unknown"); err != nil {
		t.Errorf("RemoveNode of an unknown node: %v", err)
	}
	if got := list(time.Time{}); len(got) != 1 || got[0].ID != "b@127.0.0.1:2" {
		t.Errorf("after removing a: %v, want b", ids(got))
	}
}
