package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/tmpfs"
	"github.com/gantry-dev/gantry/store"
)

// TestRecoversAfterDiskFull fills the store's filesystem (a small tmpfs)
// while enqueueing: while it is full every answer is an error (store
// unavailable, insufficient storage), never a success; once space is freed
// the store serves again by itself within a few seconds, with every job it
// acknowledged intact, before and after a reopen.
func TestRecoversAfterDiskFull(t *testing.T) {
	t.Parallel()
	fs := tmpfs.Mount(t, 24<<20)
	dir := fs + "/data"
	// The memtable is larger than the filesystem, so that the disk fills
	// in the WAL, as it does under a burst of enqueues.
	s, err := Open(dir, &Options{MemTableSize: 32 << 20, CacheSize: 1 << 20, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ballast := tmpfs.Fill(t, fs, 12<<20)
	ctx := context.Background()
	args := json.RawMessage(`{"pad":"` + strings.Repeat("x", 4000) + `"}`)
	enqueue := func() (string, error) {
		nj := benchJob()
		nj.Args = args
		res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: []*store.NewJob{nj}, Now: benchNow})
		if err != nil {
			return "", err
		}
		return res.Jobs[0].Job.ID, nil
	}

	// Fill: 16 writers until each has seen an error.
	var mu sync.Mutex
	var acked []string
	var firstErr error
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100000 {
				id, err := enqueue()
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		t.Fatal("the filesystem never filled")
	}
	t.Logf("%d jobs acknowledged before the disk filled; first error: %v", len(acked), firstErr)
	if len(acked) == 0 {
		t.Fatal("no job was acknowledged before the disk filled")
	}

	// While full: errors, never successes, and the store is still live
	// (it can leave this state by itself).
	for i := range 20 {
		id, err := enqueue()
		if err == nil {
			t.Fatalf("enqueue %d on a full disk succeeded (job %s)", i, id)
		}
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, store.ErrInsufficientStorage) {
			t.Fatalf("enqueue on a full disk: %v, want ErrUnavailable and ErrInsufficientStorage", err)
		}
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrInsufficientStorage) {
		t.Errorf("Ping on a full disk: %v, want ErrInsufficientStorage", err)
	}
	if err := s.Live(); err != nil {
		t.Fatalf("Live on a full disk: %v, want nil: the store recovers by itself", err)
	}

	// Free the space: the store serves again within a few seconds.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, err := enqueue()
		if err == nil {
			acked = append(acked, id)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store still fails 10 s after space was freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the store retries on its own schedule
	}
	checkJobs(t, s, acked, args)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, &Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	checkJobs(t, s, acked, args)
}

// checkJobs fails the test unless every job of ids is stored with args,
// and the counters count every one of them.
func checkJobs(t *testing.T, s *Store, ids []string, args json.RawMessage) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		j, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged job %s: %v", id, err)
		}
		if string(j.Args) != string(args) || j.State != store.StateAvailable {
			t.Fatalf("acknowledged job %s is %s with args of %d bytes", id, j.State, len(j.Args))
		}
	}
	qs, err := s.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Counts[store.StateAvailable] < int64(len(ids)) {
		t.Fatalf("queues %+v count fewer than the %d acknowledged jobs", qs, len(ids))
	}
}
