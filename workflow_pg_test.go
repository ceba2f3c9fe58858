package gantry_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/pgtest"
	"github.com/gantry-dev/gantry/store/postgres"
)

// Two nodes on one PostgreSQL schema: cancelling a workflow on one node
// cancels the context of its job's handler running on the other.
func TestCancelWorkflowOnAnotherNode(t *testing.T) {
	t.Parallel()
	url := os.Getenv("GANTRY_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("set GANTRY_TEST_POSTGRES_URL=postgres://... to run the PostgreSQL tests")
	}
	schema := pgtest.Schema(t, url, "gantry_wfnode_")
	open := func() *postgres.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema, Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	running := make(chan struct{})
	cause := make(chan error, 1)
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[thumbArgs](func(ctx context.Context, task *gantry.Task[thumbArgs]) error {
		close(running)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	}))
	worker, err := gantry.NewClient(open(), &gantry.Config{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = worker.Stop(ctx)
	})
	admin, err := gantry.NewClient(open(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := admin.EnqueueWorkflow(ctx, gantry.Workflow{Jobs: []gantry.WorkflowJob{step(t, "a", thumbArgs{}, nil)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler did not start on the worker node")
	}
	if w, err := admin.CancelWorkflow(ctx, res.Workflow.ID, ""); err != nil || w.State != gantry.WorkflowCancelled {
		t.Fatalf("CancelWorkflow: %+v, %v", w, err)
	}
	select {
	case err := <-cause:
		if err == nil {
			t.Error("the handler's context ended without a cause")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler's context on the other node was not cancelled")
	}
}
