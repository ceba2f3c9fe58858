package embedded

import (
	"context"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// TestOpensFormat3: a data dir in format 3 (before queue limits) opens
// in format 5 with its jobs, its queue settings kept and no limits; the
// limits set then survive a reopen.
func TestOpensFormat3(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{benchJob()}, Now: benchNow})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Jobs[0].Job.ID
	if err := s.PauseQueue(ctx, &store.PauseParams{Queue: "other", Paused: true}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s, []string{id})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(keyFormat, binary.BigEndian.AppendUint32(nil, 3), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatalf("Open of a format 3 data dir: %v", err)
	}
	if got := snapshot(t, s, []string{id}); !reflect.DeepEqual(got, before) {
		t.Errorf("after the migration: %+v, want %+v", got, before)
	}
	qs, err := s.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Limits != nil || (q.Name == "other" && !q.Paused) {
			t.Errorf("queue after the migration: %+v", q)
		}
	}
	l := store.Limits{Rate: "5/m", Burst: 2}
	if err := s.SetLimits(ctx, &store.SetLimitsParams{Queue: "default", Limits: l, Now: benchNow}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := readFormat(s.db); err != nil || v != formatVersion {
		t.Errorf("format: %d, %v; want %d", v, err, formatVersion)
	}
	qs, err = s.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == "default" && (q.Limits == nil || !q.Limits.Equal(l)) {
			t.Errorf("limits after a reopen: %+v, want %+v", q.Limits, l)
		}
	}
	// Two claims at once: the restarted bucket is full, Burst jobs.
	if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{benchJob(), benchJob()}, Now: benchNow}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 10, LeaseFor: time.Minute, Now: benchNow})
	if err != nil || len(c.Jobs) != 2 || c.RateWait != 12*time.Second {
		t.Errorf("claim after a reopen: %d jobs, wait %v, %v; want 2, 12s", len(c.Jobs), c.RateWait, err)
	}
}
