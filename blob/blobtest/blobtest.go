// Package blobtest holds test helpers shared by the blob stores' tests.
package blobtest

import (
	"context"
	"testing"

	"github.com/gantry-dev/gantry/blob"
)

// Listed returns what l.List finds with p: each payload's size by key. It
// fails t on an error, or on a payload listed without its time.
func Listed(ctx context.Context, t testing.TB, l blob.Lister, p *blob.ListParams) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	if err := l.List(ctx, p, func(e blob.Listed) error {
		if e.Stored.IsZero() {
			t.Errorf("List: %s has no time", e.Key)
		}
		got[e.Key] = e.Size
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}
