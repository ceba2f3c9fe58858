package gantrytest_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/gantrytest"
)

type albumArgs struct{}

func (albumArgs) Kind() string { return "album" }

// album spawns two thumbnails on its first run and, on the next, publishes
// the keys its children returned.
var album = gantry.HandlerFunc[albumArgs](func(ctx context.Context, t *gantry.Task[albumArgs]) error {
	if len(t.Dependencies()) == 0 {
		a, _ := gantry.Step("a1", resizeArgs{Width: 64}, nil)
		b, _ := gantry.Step("a2", resizeArgs{Width: 64}, nil)
		if _, err := t.Spawn(ctx, a, b); err != nil {
			return err
		}
		return gantry.AwaitChildren()
	}
	r, err := gantry.DependencyResult[resizeResult](t.Dependencies(), "a2")
	if err != nil {
		return err
	}
	return t.SetResult(r.Done)
})

func TestFakeSpawnAndDependencies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	out, err := gantrytest.Work(ctx, album, albumArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.State != gantry.StateWaiting || len(out.Spawned) != 2 || out.Spawned[1].Ref != "a2" {
		t.Fatalf("first run: %s, spawned %+v, err %v", out.State, out.Spawned, out.Err)
	}
	out, err = gantrytest.Work(ctx, album, albumArgs{}, &gantrytest.TaskOpts{Dependencies: map[string]gantry.Dependency{
		"a1": {ID: "x", State: gantry.StateSucceeded, Result: json.RawMessage(`{"done":1}`)},
		"a2": {ID: "y", State: gantry.StateSucceeded, Result: json.RawMessage(`{"done":2}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.State != gantry.StateSucceeded || string(out.Result) != "2" {
		t.Errorf("second run: %s with %s (%v)", out.State, out.Result, out.Err)
	}
}
