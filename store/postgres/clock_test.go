package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// TestStoreNow: the store's clock is the database server's, found with
// store.As, close to this machine's here (one server), and refused after
// Close.
func TestStoreNow(t *testing.T) {
	t.Parallel()
	st := setup(t, nil)
	c, ok := store.As[store.Clock](st)
	if !ok {
		t.Fatal("the PostgreSQL store has no store.Clock")
	}
	before := time.Now()
	now, err := c.StoreNow(context.Background())
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if now.Before(before.Add(-time.Second)) || now.After(after.Add(time.Second)) {
		t.Errorf("StoreNow %v, outside [%v, %v] by more than a second", now, before, after)
	}
	next, err := c.StoreNow(context.Background())
	if err != nil || next.Before(now) {
		t.Errorf("a second StoreNow %v (%v) is before the first %v", next, err, now)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StoreNow(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("StoreNow after Close: %v, want store.ErrClosed", err)
	}
}
