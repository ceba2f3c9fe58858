package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/gantry-dev/gantry/store"
)

// powerLossPointsEnv sets how many crash points TestPowerLoss checks; the
// default, powerLossPoints, keeps it short enough for every `go test`. The
// long run:
//
//	GANTRY_POWERLOSS_POINTS=1000 go test -run TestPowerLoss -timeout 30m ./store/embedded/
//
// GANTRY_POWERLOSS_SEED replays a run with the seed a failure printed.
const (
	powerLossPointsEnv = "GANTRY_POWERLOSS_POINTS"
	powerLossSeedEnv   = "GANTRY_POWERLOSS_SEED"
	powerLossPoints    = 25
	// pointsPerRound crash points are taken from one store before the
	// next round starts a fresh one, so that the jobs checked at each
	// point, and the memory of the filesystem, stay bounded.
	pointsPerRound = 8
)

// TestPowerLoss runs the store over a memory filesystem that keeps only
// what was synced (vfs.NewCrashableMem) while goroutines enqueue, claim
// and finish jobs. At random crash points (after an acknowledgment, when a
// flush or a compaction begins) it clones the filesystem as a power loss
// would leave it, with some of the unsynced writes kept or not, opens a
// store on the clone and checks it: it opens; every job whose Enqueue was
// acknowledged before the crash is there; every acknowledged Finish is
// reflected in its job's state; and the counters Queues reports agree
// with a scan of the state index and of the jobs (checkConsistent).
func TestPowerLoss(t *testing.T) {
	t.Parallel()
	points := powerLossPoints
	if v := os.Getenv(powerLossPointsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", powerLossPointsEnv, v)
		}
		points = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(powerLossSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", powerLossSeedEnv, v)
		}
		seed = n
	}
	t.Logf("seed %d (%s=%d replays it), %d crash points", seed, powerLossSeedEnv, seed, points)
	var st powerLossStats
	for round := 0; points > 0; round++ {
		n := min(points, pointsPerRound)
		points -= n
		powerLossRound(t, seed+uint64(round), n, &st)
		if t.Failed() {
			t.Fatalf("seed %d, round %d failed (%s=%d replays it)", seed, round, powerLossSeedEnv, seed)
		}
	}
	t.Logf("%d crash points: %d after an acknowledgment, %d at a flush, %d at a compaction; %d flushes, %d compactions; %d jobs and %d finishes acknowledged before a crash point, all kept",
		st.points, st.afterAck, st.atFlush, st.atCompaction, st.flushes, st.compactions, st.checkedJobs, st.checkedFinishes)
}

type powerLossStats struct {
	points, afterAck, atFlush, atCompaction int
	flushes, compactions                    int
	checkedJobs, checkedFinishes            int
}

// powerLossLog is what the workers had acknowledged, and what Pebble was
// doing, guarded by mu; cond is broadcast on every change.
type powerLossLog struct {
	mu   sync.Mutex
	cond *sync.Cond
	// jobs are the ids of acknowledged enqueues, in order.
	jobs []string
	// finished are the acknowledged finishes, in order.
	finished []finishAck
	// flushing and compacting are set when a flush or a compaction
	// begins, and cleared by the crasher once it took a point there.
	flushing, compacting bool
	flushes, compactions int
	stopped              bool
	// acksAllowed is set by the crasher: workers wait once the acks
	// reach it.
	acksAllowed int
}

type finishAck struct {
	id    string
	state store.State
}

// began records that a flush or a compaction began: it sets its flag,
// counts it and wakes the crasher.
func (l *powerLossLog) began(flag *bool, count *int) {
	l.mu.Lock()
	*flag = true
	*count++
	l.mu.Unlock()
	l.cond.Broadcast()
}

func (l *powerLossLog) acks() int { return len(l.jobs) + len(l.finished) }

// powerLossRound runs one store over a fresh crashable filesystem and takes
// n crash points from it.
func powerLossRound(t *testing.T, seed uint64, n int, st *powerLossStats) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	fs := vfs.NewCrashableMem()
	l := &powerLossLog{}
	l.cond = sync.NewCond(&l.mu)
	events := &pebble.EventListener{
		FlushBegin:      func(pebble.FlushInfo) { l.began(&l.flushing, &l.flushes) },
		CompactionBegin: func(pebble.CompactionInfo) { l.began(&l.compacting, &l.compactions) },
	}
	opts := &Options{Logger: discard(), MemTableSize: 1 << 20, MaxGroup: 64, fs: fs, events: events}
	s, err := Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Workers run ahead of the crasher by at most a few dozen acks, so
	// that the points spread over the run and each round stays small.
	const ahead = 60
	l.acksAllowed = ahead
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wrng := rand.New(rand.NewPCG(seed, uint64(w)+1))
		wg.Go(func() {
			if err := powerLossWorker(s, l, wrng, w%2 == 1); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
				l.mu.Lock()
				l.stopped = true
				l.mu.Unlock()
				l.cond.Broadcast()
			}
		})
	}
	stop := func() {
		l.mu.Lock()
		l.stopped = true
		l.mu.Unlock()
		l.cond.Broadcast()
		wg.Wait()
	}
	defer stop()

	for i := range n {
		l.mu.Lock()
		target := l.acks()
		if target == 0 || rng.IntN(2) == 0 {
			target += 1 + rng.IntN(ahead)
		}
		l.acksAllowed = target + ahead
		l.cond.Broadcast()
		// A point is taken after target acks, or at once when a flush or a
		// compaction began.
		for !l.stopped && l.acks() < target && !l.flushing && !l.compacting {
			l.cond.Wait()
		}
		if l.stopped {
			l.mu.Unlock()
			break
		}
		where := "after an acknowledgment"
		switch {
		case l.compacting:
			where, l.compacting = "at a compaction", false
			st.atCompaction++
		case l.flushing:
			where, l.flushing = "at a flush", false
			st.atFlush++
		default:
			st.afterAck++
		}
		jobs := l.jobs[:len(l.jobs):len(l.jobs)]
		finished := l.finished[:len(l.finished):len(l.finished)]
		l.mu.Unlock()

		// What the disk holds at a power loss: everything synced, and each
		// unsynced block or directory entry with some probability.
		cfg := vfs.CrashCloneCfg{}
		if p := rng.IntN(3); p > 0 {
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: []int{0, 30, 90}[p], RNG: rand.New(rand.NewPCG(seed, uint64(1000+i)))}
		}
		clone := fs.CrashClone(cfg)
		st.points++
		if err := checkAfterPowerLoss(clone, jobs, finished); err != nil {
			t.Errorf("crash point %d (%s, %d%% of unsynced writes kept, %d jobs and %d finishes acknowledged): %v",
				i, where, cfg.UnsyncedDataPercent, len(jobs), len(finished), err)
			break
		}
		st.checkedJobs += len(jobs)
		st.checkedFinishes += len(finished)
	}
	stop()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	l.mu.Lock()
	st.flushes += l.flushes
	st.compactions += l.compactions
	l.mu.Unlock()
}

// powerLossWorker enqueues jobs in small batches and, when finisher is
// set, claims jobs and finishes them (succeeded, or failed for good),
// recording every acknowledgment, until the log says stop.
func powerLossWorker(s *Store, l *powerLossLog, rng *rand.Rand, finisher bool) error {
	ctx := context.Background()
	// Several KiB of arguments per job fill a 1 MiB memtable every
	// hundred jobs or so, so that rounds see flushes and compactions.
	args, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 12<<10+rng.IntN(4<<10))})
	for {
		l.mu.Lock()
		for !l.stopped && l.acks() >= l.acksAllowed {
			l.cond.Wait()
		}
		stopped := l.stopped
		l.mu.Unlock()
		if stopped {
			return nil
		}
		if !finisher || rng.IntN(3) > 0 {
			batch := make([]*store.NewJob, 1+rng.IntN(4))
			for i := range batch {
				batch[i] = &store.NewJob{Kind: "power", Queue: []string{"a", "b"}[rng.IntN(2)],
					Priority: store.DefaultPriority, RunAt: t0, MaxAttempts: 3, Args: args}
			}
			res, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: batch, Now: t0})
			if err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
			l.mu.Lock()
			for _, e := range res.Jobs {
				l.jobs = append(l.jobs, e.Job.ID)
			}
			l.mu.Unlock()
			l.cond.Broadcast()
			continue
		}
		res, err := s.Claim(ctx, &store.ClaimParams{Queue: []string{"a", "b"}[rng.IntN(2)], Max: 1 + rng.IntN(4), LeaseFor: time.Minute, Now: t0})
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		if len(res.Jobs) == 0 {
			continue
		}
		items := make([]store.FinishItem, 0, len(res.Jobs))
		for _, j := range res.Jobs {
			if rng.IntN(4) == 0 {
				items = append(items, store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeFailed,
					Error: &store.AttemptError{Message: "boom"}, Permanent: true})
			} else {
				items = append(items, store.FinishItem{ID: j.ID, LeaseToken: j.LeaseToken, Outcome: store.OutcomeSucceeded,
					Result: json.RawMessage(`{"ok":true}`)})
			}
		}
		fr, err := s.Finish(ctx, &store.FinishParams{Items: items, Now: t0})
		if err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		l.mu.Lock()
		for i, j := range fr.Jobs {
			if fr.Errs[i] != nil {
				l.mu.Unlock()
				return fmt.Errorf("finish %s: %w", items[i].ID, fr.Errs[i])
			}
			l.finished = append(l.finished, finishAck{id: j.ID, state: j.State})
		}
		l.mu.Unlock()
		l.cond.Broadcast()
	}
}

// checkAfterPowerLoss opens a store on fs, the filesystem a power loss
// left, and checks that it holds every acknowledged job and finish and is
// consistent.
func checkAfterPowerLoss(fs vfs.FS, jobs []string, finished []finishAck) error {
	s, err := Open("db", &Options{Logger: discard(), MemTableSize: 1 << 20, fs: fs})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	err = checkAcknowledged(s, jobs, finished)
	if err == nil {
		err = checkConsistent(s)
	}
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return err
}

func checkAcknowledged(s *Store, jobs []string, finished []finishAck) error {
	ctx := context.Background()
	for _, id := range jobs {
		if _, err := s.Get(ctx, id); err != nil {
			return fmt.Errorf("acknowledged job %s: %w", id, err)
		}
	}
	for _, f := range finished {
		j, err := s.Get(ctx, f.id)
		if err != nil {
			return fmt.Errorf("job %s, acknowledged %s: %w", f.id, f.state, err)
		}
		if j.State != f.state {
			return fmt.Errorf("job %s, acknowledged %s, is %s", f.id, f.state, j.State)
		}
	}
	return nil
}

// checkConsistent checks that the counters of every queue and state, as
// Queues reports them, match the jobs listed in each state (the state
// index), and that listing all jobs (the specs) finds as many.
func checkConsistent(s *Store) error {
	ctx := context.Background()
	qs, err := s.Queues(ctx)
	if err != nil {
		return fmt.Errorf("queues: %w", err)
	}
	counted := map[string]map[store.State]int64{}
	for _, q := range qs {
		counted[q.Name] = q.Counts
	}
	listed := map[string]map[store.State]int64{}
	var total int64
	for _, state := range []store.State{store.StateScheduled, store.StateWaiting, store.StateAvailable, store.StateRunning,
		store.StateRetrying, store.StateSucceeded, store.StateFailed, store.StateCancelled} {
		err := listAll(ctx, s, state, func(j *store.Job) error {
			if j.State != state {
				return fmt.Errorf("job %s listed as %s is %s", j.ID, state, j.State)
			}
			if listed[j.Queue] == nil {
				listed[j.Queue] = map[store.State]int64{}
			}
			listed[j.Queue][state]++
			total++
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, m := range []map[string]map[store.State]int64{counted, listed} {
		for q, counts := range m {
			for state := range counts {
				if c, n := counted[q][state], listed[q][state]; c != n {
					return fmt.Errorf("queue %s: %d jobs %s counted, %d listed", q, c, state, n)
				}
			}
		}
	}
	var all int64
	if err := listAll(ctx, s, "", func(*store.Job) error { all++; return nil }); err != nil {
		return err
	}
	if all != total {
		return fmt.Errorf("%d jobs listed in all, %d by state", all, total)
	}
	return nil
}

func listAll(ctx context.Context, s *Store, state store.State, fn func(*store.Job) error) error {
	p := &store.ListParams{State: state, Limit: store.MaxListLimit}
	for {
		page, err := s.List(ctx, p)
		if err != nil {
			return fmt.Errorf("list %q: %w", state, err)
		}
		for _, j := range page.Jobs {
			if err := fn(j); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		p.Cursor = page.Next
	}
}
