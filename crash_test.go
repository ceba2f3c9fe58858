package gantry_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

// The crash test runs a child process (this test binary, re-executed) that
// enqueues and works jobs on a data dir, kills it with SIGKILL at random
// moments, restarts it on the same data dir, and finally lets it drain.
// The child appends every id whose enqueue returned success to acked.log,
// and every id whose handler returned success to handled.log, with plain
// unbuffered writes: they survive SIGKILL in the page cache.

const crashKills = 12

type crashArgs struct {
	N int `json:"n"`
}

func (crashArgs) Kind() string { return "crash.work" }

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	t.Parallel()
	dir := t.TempDir()
	for i := range crashKills {
		cmd, ready := startCrashChild(t, dir, "run")
		<-ready
		time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond) // a random moment to kill at
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		_ = cmd.Wait()
	}
	cmd, _ := startCrashChild(t, dir, "drain")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("draining child failed: %v", err)
	}

	acked := readIDs(t, filepath.Join(dir, "acked.log"))
	handled := readIDs(t, filepath.Join(dir, "handled.log"))
	if len(acked) < crashKills {
		t.Fatalf("only %d jobs were acknowledged over %d runs: the child made no progress", len(acked), crashKills)
	}
	st, err := embedded.Open(filepath.Join(dir, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	succeeded := 0
	for id := range acked {
		j, err := st.Get(ctx, id)
		if err != nil {
			t.Errorf("acknowledged job %s is lost: %v", id, err)
			continue
		}
		if j.State != store.StateSucceeded {
			t.Errorf("acknowledged job %s is %s after draining, want succeeded", id, j.State)
		}
	}
	cursor := ""
	for {
		page, err := st.List(ctx, &store.ListParams{State: store.StateSucceeded, Limit: store.MaxListLimit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			succeeded++
			if !handled[j.ID] {
				t.Errorf("job %s is succeeded but its handler never returned success", j.ID)
			}
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	t.Logf("%d kills, %d jobs acknowledged, %d succeeded, %d handler successes (re-runs after a kill count twice)",
		crashKills, len(acked), succeeded, len(handled))
}

func startCrashChild(t *testing.T, dir, mode string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "GANTRY_CRASH_CHILD="+mode, "GANTRY_CRASH_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "crash-child-ready") {
				once.Do(func() { close(ready) })
			}
		}
		once.Do(func() { close(ready) })
	}()
	return cmd, ready
}

func readIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}
	}
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	lines := strings.Split(string(b), "\n")
	for _, l := range lines[:len(lines)-1] { // the last piece is empty or a torn line
		if l != "" {
			ids[l] = true
		}
	}
	return ids
}

// TestCrashChild is the child process of TestCrashRecovery.
func TestCrashChild(t *testing.T) {
	mode := os.Getenv("GANTRY_CRASH_CHILD")
	if mode == "" {
		t.Skip("the child process of TestCrashRecovery; it runs only when that test starts it")
	}
	dir := os.Getenv("GANTRY_CRASH_DIR")
	ackLog := openLog(t, filepath.Join(dir, "acked.log"))
	handledLog := openLog(t, filepath.Join(dir, "handled.log"))
	st, err := embedded.Open(filepath.Join(dir, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[crashArgs](func(ctx context.Context, task *gantry.Task[crashArgs]) error {
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		h := fnv.New32a()
		h.Write([]byte(task.Job.ID))
		if task.Job.Attempt == 1 && h.Sum32()%5 == 0 {
			return errors.New("first attempts of some jobs fail")
		}
		if _, err := handledLog.WriteString(task.Job.ID + "\n"); err != nil {
			return err
		}
		return nil
	}))
	c, err := gantry.NewClient(st, &gantry.Config{
		Registry:            reg,
		Queues:              map[string]gantry.QueueConfig{"default": {Workers: 8}},
		LeaseFor:            time.Second,
		MaintenanceInterval: 50 * time.Millisecond,
		Backoff:             func(int) time.Duration { return 10 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("crash-child-ready")

	if mode == "run" {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for n := 0; ; n++ {
					res, err := c.Enqueue(ctx, crashArgs{N: g*1_000_000 + n}, nil)
					if err != nil {
						t.Errorf("enqueue: %v", err)
						return
					}
					if _, err := ackLog.WriteString(res.Job.ID + "\n"); err != nil {
						t.Errorf("ack log: %v", err)
						return
					}
				}
			})
		}
		wg.Wait() // never returns: the parent kills the process
	}

	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		qs, err := c.Queues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pending := int64(0)
		for _, q := range qs {
			for s, n := range q.Counts {
				if !s.Final() {
					pending += n
				}
			}
		}
		if pending == 0 {
			if err := c.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("jobs still pending after 2 minutes of draining")
}

func openLog(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
