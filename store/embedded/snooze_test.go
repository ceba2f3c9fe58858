package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// TestOpensFormat3Snoozes: a data dir in format 3 (version 2 states, without a
// snooze count) opens in the current format with its jobs as they were,
// never snoozed; a snooze then is counted and the count survives a
// reopen.
func TestOpensFormat3Snoozes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for _, kind := range []string{"a", "b"} {
		nj := benchJob()
		nj.Kind, nj.Queue = kind, "snooze"
		res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{nj}, Now: benchNow})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Jobs[0].Job.ID)
	}
	before := snapshot(t, s, ids)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Rewrite the data dir into format 3: version 2 states end before the
	// snooze count and the first snooze's time.
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	wb := db.NewBatch()
	n := 0
	check(scan(db, []byte{tState}, func(k, v []byte) error {
		if len(k) != 17 {
			return nil
		}
		if v[0] != 3 || !bytes.HasSuffix(v, []byte{0, 0}) {
			t.Fatalf("state %x is not a version 3 state of a job never snoozed", v)
		}
		n++
		return wb.Set(k, append([]byte{2}, v[1:len(v)-2]...), nil)
	}))
	if n != len(ids) {
		t.Fatalf("rewrote %d states, want %d", n, len(ids))
	}
	check(wb.Set(keyFormat, binary.BigEndian.AppendUint32(nil, 3), nil))
	check(wb.Commit(pebble.Sync))
	wb.Close()
	check(db.Close())

	if s, err = Open(dir, &Options{Logger: discard()}); err != nil {
		t.Fatalf("Open of a format 3 data dir: %v", err)
	}
	if after := snapshot(t, s, ids); !reflect.DeepEqual(before, after) {
		t.Errorf("after the migration the store holds\n%+v\nwant\n%+v", after, before)
	}
	if v, err := readFormat(s.db); err != nil || v != formatVersion {
		t.Errorf("format after the migration: %d, %v; want %d", v, err, formatVersion)
	}
	c, err := s.Claim(ctx, &store.ClaimParams{Queue: "snooze", Max: 1, LeaseFor: time.Minute, Now: benchNow})
	if err != nil || len(c.Jobs) != 1 {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	j := c.Jobs[0]
	at := benchNow.Add(time.Second)
	fin, err := s.Finish(ctx, &store.FinishParams{Now: at, Items: []store.FinishItem{{ID: j.ID, LeaseToken: j.LeaseToken,
		Outcome: store.OutcomeSnoozed, RetryAt: at.Add(time.Minute)}}})
	if err != nil || fin.Errs[0] != nil {
		t.Fatalf("snooze: %+v, %v", fin, err)
	}
	check(s.Close())
	if s, err = Open(dir, &Options{Logger: discard()}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, j.ID)
	if err != nil || got.Snoozes != 1 || !got.FirstSnoozedAt.Equal(at) {
		t.Fatalf("the snoozed job after a reopen: %+v, %v; want 1 snooze at %s", got, err, at)
	}
}
