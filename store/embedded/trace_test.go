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

// TestOpensFormat5: a data dir in format 5 (version 2 specs, without a
// traceparent) opens in the current format with its jobs as they were; a job
// enqueued then keeps its traceparent through a reopen and a claim.
func TestOpensFormat5(t *testing.T) {
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
		nj.Kind = kind
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

	// Rewrite the data dir into format 5: version 2 specs end before the
	// traceparent (and the limit key of version 4).
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wb := db.NewBatch()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(scan(db, []byte{tSpec}, func(k, v []byte) error {
		if v[0] != 4 || !bytes.HasSuffix(v, []byte{0, 0}) {
			t.Fatalf("spec %x is not a version 4 spec without a traceparent and a limit key", v)
		}
		old := append([]byte{2}, v[1:len(v)-2]...)
		return wb.Set(k, old, nil)
	}))
	check(wb.Set(keyFormat, binary.BigEndian.AppendUint32(nil, 5), nil))
	check(wb.Commit(pebble.Sync))
	wb.Close()
	check(db.Close())

	if s, err = Open(dir, &Options{Logger: discard()}); err != nil {
		t.Fatalf("Open of a format 5 data dir: %v", err)
	}
	if after := snapshot(t, s, ids); !reflect.DeepEqual(before, after) {
		t.Errorf("after the migration the store holds\n%+v\nwant\n%+v", after, before)
	}
	if v, err := readFormat(s.db); err != nil || v != formatVersion {
		t.Errorf("format after the migration: %d, %v; want %d", v, err, formatVersion)
	}
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	nj := benchJob()
	nj.Queue, nj.TraceParent = "traced", tp
	if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{nj}, Now: benchNow}); err != nil {
		t.Fatal(err)
	}
	check(s.Close())
	if s, err = Open(dir, &Options{Logger: discard()}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Claim(ctx, &store.ClaimParams{Queue: "traced", Max: 1, LeaseFor: time.Minute, Now: benchNow})
	if err != nil || len(c.Jobs) != 1 || c.Jobs[0].TraceParent != tp {
		t.Fatalf("claim of a job with a traceparent after a reopen: %+v, %v", c, err)
	}
}
