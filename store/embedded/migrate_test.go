package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// TestMigrationsAreNumbered: the migrations are one increasing sequence
// from 2 up without a gap, and the last is the format this code writes.
func TestMigrationsAreNumbered(t *testing.T) {
	t.Parallel()
	want := uint32(2)
	for i, m := range migrations {
		if m.version != want || m.name == "" || m.apply == nil {
			t.Errorf("migration %d: version %d %q, want version %d with a name and a function", i, m.version, m.name, want)
		}
		want = m.version + 1
	}
	if last := migrations[len(migrations)-1].version; last != formatVersion {
		t.Errorf("the last migration makes format %d; this code writes format %d", last, formatVersion)
	}
}

// TestOpensFormat1: a data dir in format 1 (job specs in table 'j', as
// every data dir written before format 2 has them) is migrated in place at
// Open, and every job is there as it was, with its counters.
func TestOpensFormat1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := benchNow
	enqueue := func(nj *store.NewJob) *store.Job {
		t.Helper()
		res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{nj}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return res.Jobs[0].Job
	}
	job := func(mod func(*store.NewJob)) *store.NewJob {
		nj := benchJob()
		nj.Args = json.RawMessage(`{"n":"` + strings.Repeat("a", 100) + `"}`)
		if mod != nil {
			mod(nj)
		}
		return nj
	}
	var ids []string
	for range 50 {
		ids = append(ids, enqueue(job(nil)).ID)
	}
	dep := enqueue(job(func(j *store.NewJob) { j.Kind = "dep"; j.UniqueKey = "u-1" }))
	ids = append(ids, dep.ID,
		enqueue(job(func(j *store.NewJob) { j.DependsOn = []string{dep.ID} })).ID,
		enqueue(job(func(j *store.NewJob) { j.RunAt = now.Add(time.Hour); j.Queue = "later" })).ID,
		enqueue(job(func(j *store.NewJob) {
			j.Blob = &store.Blob{Key: "k/1", Size: 3, SHA256: strings.Repeat("ab", 32), ContentType: "image/png"}
		})).ID)
	claimed, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 5, LeaseFor: time.Minute, Now: now})
	if err != nil || len(claimed.Jobs) != 5 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	fin, err := s.Finish(ctx, &store.FinishParams{Now: now, Items: []store.FinishItem{
		{ID: claimed.Jobs[0].ID, LeaseToken: claimed.Jobs[0].LeaseToken, Outcome: store.OutcomeSucceeded, Result: json.RawMessage(`{"ok":1}`)},
		{ID: claimed.Jobs[1].ID, LeaseToken: claimed.Jobs[1].LeaseToken, Outcome: store.OutcomeFailed, RetryAt: now.Add(time.Minute),
			Error: &store.AttemptError{Message: "boom"}},
	}})
	if err != nil || fin.Errs[0] != nil || fin.Errs[1] != nil {
		t.Fatalf("finish: %v %v", err, fin)
	}
	before := snapshot(t, s, ids)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Rewrite the data dir into format 1.
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	specs := 0
	if err := scan(db, []byte{tSpec}, func(k, v []byte) error {
		specs++
		if err := b.Set(append([]byte{'j'}, k[1:]...), v, nil); err != nil {
			return err
		}
		return b.Delete(k, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(keyFormat, binary.BigEndian.AppendUint32(nil, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if specs != len(ids) {
		t.Fatalf("moved %d specs, want %d", specs, len(ids))
	}

	s, err = Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatalf("Open of a format 1 data dir: %v", err)
	}
	after := snapshot(t, s, ids)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("after the migration the store holds\n%+v\nwant\n%+v", after, before)
	}
	// It works on: the rest of the jobs are claimed, and the dependent
	// job is released when its dependency succeeds.
	res, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 1000, LeaseFor: time.Minute, Now: now})
	if err != nil || len(res.Jobs) != int(before.queues["default"][store.StateAvailable]) {
		t.Fatalf("claim after the migration: %d jobs, %v; want %d", len(res.Jobs), err, before.queues["default"][store.StateAvailable])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := readFormat(db); err != nil || v != formatVersion {
		t.Errorf("format after the migration: %d, %v; want %d", v, err, formatVersion)
	}
	if err := scan(db, []byte{'j'}, func(k, _ []byte) error {
		t.Errorf("key %x of format 1 left behind", k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRefusesNewerFormat: a data dir written in a newer format is refused
// with a message that says so, and left as it is.
func TestRefusesNewerFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion+1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, &Options{Logger: discard()}); err == nil || !strings.Contains(err.Error(), "newer Gantry") {
		t.Fatalf("Open of a newer format: %v, want a refusal naming a newer Gantry", err)
	}
}

// storeSnapshot is what a store holds: each job as Get returns it, and
// the counts of each queue.
type storeSnapshot struct {
	jobs   map[string]*store.Job
	queues map[string]map[store.State]int64
}

func snapshot(t *testing.T, s *Store, ids []string) storeSnapshot {
	t.Helper()
	ctx := context.Background()
	snap := storeSnapshot{jobs: map[string]*store.Job{}, queues: map[string]map[store.State]int64{}}
	for _, id := range ids {
		j, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("job %s: %v", id, err)
		}
		snap.jobs[id] = j
	}
	qs, err := s.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		snap.queues[q.Name] = q.Counts
	}
	list, err := s.List(ctx, &store.ListParams{Limit: store.MaxListLimit})
	if err != nil || len(list.Jobs) != len(ids) {
		t.Fatalf("List: %d jobs, %v; want %d", len(list.Jobs), err, len(ids))
	}
	return snap
}

// TestOpensFormat2: a data dir in format 2 (specs in version 1, without
// workflow fields; dependency edges only while the dependent waits, and
// only from the dependency's side) is migrated in place at Open: every
// job is as it was, and the edges of finished dependencies are back, so
// that retrying a failed job revives the dependent it cancelled.
func TestOpensFormat2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := benchNow
	enqueue := func(mod func(*store.NewJob)) *store.Job {
		t.Helper()
		nj := benchJob()
		if mod != nil {
			mod(nj)
		}
		res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{nj}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return res.Jobs[0].Job
	}
	a := enqueue(func(j *store.NewJob) { j.Kind = "a" })
	b := enqueue(func(j *store.NewJob) { j.Kind = "b"; j.DependsOn = []string{a.ID} })
	x := enqueue(func(j *store.NewJob) { j.Kind = "x" })
	y := enqueue(func(j *store.NewJob) { j.Kind = "y"; j.DependsOn = []string{x.ID} })
	ids := []string{a.ID, b.ID, x.ID, y.ID}
	claimed, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Kinds: []string{"a"}, Max: 1, LeaseFor: time.Minute, Now: now})
	if err != nil || len(claimed.Jobs) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	if _, err := s.Finish(ctx, &store.FinishParams{Now: now, Items: []store.FinishItem{{ID: a.ID,
		LeaseToken: claimed.Jobs[0].LeaseToken, Outcome: store.OutcomeFailed, Permanent: true}}}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s, ids)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Rewrite the data dir into format 2.
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wb := db.NewBatch()
	waiting, _ := parseID(y.ID)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(scan(db, []byte{tBlocked}, func(k, _ []byte) error { return wb.Delete(k, nil) }))
	check(scan(db, []byte{tDep}, func(k, _ []byte) error {
		if jobID(k[17:]) != waiting {
			return wb.Delete(k, nil)
		}
		return nil
	}))
	check(scan(db, []byte{tSpec}, func(k, v []byte) error {
		if v[0] != specVersion || !bytes.HasSuffix(v, []byte{0, 0, 0, 0, 0}) {
			t.Fatalf("spec %x is not a version 4 spec without workflow fields, traceparent and limit key", v)
		}
		old := append([]byte{1}, v[1:len(v)-5]...)
		return wb.Set(k, old, nil)
	}))
	check(scan(db, []byte{tState}, func(k, v []byte) error {
		if len(k) != 17 || v[0] != stateVersion {
			return nil
		}
		if !bytes.HasSuffix(v, []byte{0, 0}) {
			t.Fatalf("state %x is not a version 3 state of a job never snoozed", v)
		}
		return wb.Set(k, append([]byte{1}, v[1:len(v)-3]...), nil) // drop Waits and the snoozes
	}))
	check(wb.Set(keyFormat, binary.BigEndian.AppendUint32(nil, 2), nil))
	check(wb.Commit(pebble.Sync))
	wb.Close()
	check(db.Close())

	s, err = Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatalf("Open of a format 2 data dir: %v", err)
	}
	defer s.Close()
	if after := snapshot(t, s, ids); !reflect.DeepEqual(before, after) {
		t.Errorf("after the migration the store holds\n%+v\nwant\n%+v", after, before)
	}
	if _, err := s.Retry(ctx, &store.RetryParams{ID: a.ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, b.ID); err != nil || got.State != store.StateWaiting {
		t.Errorf("the dependent after its dependency was retried: %v, %v; want waiting", got, err)
	}
}
