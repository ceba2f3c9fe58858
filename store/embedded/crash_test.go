package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// crashChildEnv, when set to a directory, makes the test binary a child
// that enqueues into a store there until it is killed; see TestCrash.
const crashChildEnv = "GANTRY_EMBEDDED_CRASH_CHILD"

// crashChild enqueues jobs from 16 goroutines and prints the id of each
// job once Enqueue acknowledged it, until the process is killed.
func crashChild() {
	s, err := Open(os.Getenv(crashChildEnv), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				res, err := s.Enqueue(context.Background(), &store.EnqueueParams{
					Jobs: []*store.NewJob{benchJob()}, Now: benchNow,
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(out, res.Jobs[0].Job.ID)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrash kills a process that is enqueueing (SIGKILL, no Close) and
// checks that every job it acknowledged is there after reopening, and
// that the persisted counters agree with the jobs.
func TestCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const want = 3000
	var acked []string
	sc := bufio.NewScanner(stdout)
	for len(acked) < want && sc.Scan() {
		acked = append(acked, sc.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // acknowledged before the kill landed
		acked = append(acked, sc.Text())
	}
	werr := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(werr, &exit) {
		t.Fatalf("child: %v", werr)
	}
	if len(acked) < want {
		t.Fatalf("child acknowledged only %d jobs before it ended: %v", len(acked), werr)
	}

	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, id := range acked {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("acknowledged job %s: %v", id, err)
		}
	}
	qs, err := s.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed int64
	for p := (&store.ListParams{State: store.StateAvailable, Limit: store.MaxListLimit}); ; {
		page, err := s.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		listed += int64(len(page.Jobs))
		if page.Next == "" {
			break
		}
		p.Cursor = page.Next
	}
	if len(qs) != 1 || qs[0].Counts[store.StateAvailable] != listed || listed < int64(len(acked)) {
		t.Fatalf("after the crash: queues %+v, %d jobs available, %d acknowledged", qs, listed, len(acked))
	}
	// The reopened store works: it claims every job once.
	claimed := 0
	for {
		res, err := s.Claim(ctx, &store.ClaimParams{Queue: "default", Max: 1000, LeaseFor: 60e9, Now: benchNow})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) == 0 {
			break
		}
		claimed += len(res.Jobs)
	}
	if int64(claimed) != listed {
		t.Fatalf("claimed %d jobs, want %d", claimed, listed)
	}
}
