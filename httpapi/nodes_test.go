package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
)

// GET /v1/nodes lists the nodes that beat within store.NodeTimeout, by id.
func TestNodes(t *testing.T) {
	e := setup(t, nil)
	list := func() []httpapi.NodeResource {
		t.Helper()
		res := e.do(req{method: "GET", path: "/v1/nodes"})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/nodes: %s: %s", res.Status, res.body)
		}
		var out httpapi.NodeList
		res.decode(t, &out)
		return out.Nodes
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("nodes before any beat: %+v", got)
	}
	now := e.clock.Now().UTC()
	for _, n := range []store.Node{
		{ID: "b@127.0.0.1:2", StartedAt: now, HeartbeatAt: now, Workers: 16, Running: 3},
		{ID: "a@127.0.0.1:1", StartedAt: now, HeartbeatAt: now, Workers: 8},
		{ID: "gone@127.0.0.1:3", StartedAt: now, HeartbeatAt: now.Add(-store.NodeTimeout - time.Second)},
	} {
		if err := e.store.BeatNode(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
	}
	got := list()
	if len(got) != 2 || got[0].ID != "a@127.0.0.1:1" || got[1].ID != "b@127.0.0.1:2" || got[1].Workers != 16 || got[1].Running != 3 {
		t.Errorf("nodes = %+v, want a and b (not the one that stopped beating)", got)
	}
	if res := e.do(req{method: "GET", path: "/v1/nodes?x=1"}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /v1/nodes?x=1: %s, want 400", res.Status)
	}
}
