package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Supervisor kills nodes with SIGKILL at random moments of a run and
// starts them again.
type Supervisor struct {
	Nodes []*Node
	// Kills is how many kills the run gets, spread at random over its
	// acknowledged jobs (between 5% and 90% of them).
	Kills int
	// HoldDown keeps the node of the middle kill down this long before it
	// starts again, while the others serve (a run of several nodes).
	HoldDown time.Duration
	// DBRestart, when set, is called once halfway through the run: it
	// stops the database in immediate mode and starts it again.
	DBRestart func() error
	History   *History
}

// Run kills and restarts nodes as the driver's clients progress, and
// returns once every kill is done and every node runs again.
func (s *Supervisor) Run(ctx context.Context, d *Driver) error {
	points := make([]float64, s.Kills)
	for i := range points {
		points[i] = 0.05 + 0.85*rand.Float64()
	}
	slices.Sort(points)
	dbAt := -1
	if s.DBRestart != nil {
		dbAt = s.Kills / 3
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var errs []error
	var mu sync.Mutex
	held := map[*Node]bool{} // nodes kept down by a goroutine that starts them later
	for i, p := range points {
		for float64(d.Acked()) < p*float64(d.Jobs()) {
			if !pause(ctx, 5*time.Millisecond) {
				return ctx.Err()
			}
		}
		pause(ctx, time.Duration(rand.IntN(100))*time.Millisecond)
		if i == dbAt {
			s.History.Add(Event{Kind: EventDBRestart, Who: "supervisor"})
			if err := s.DBRestart(); err != nil {
				return fmt.Errorf("gantry: chaos: database restart: %w", err)
			}
		}
		mu.Lock()
		var up []*Node
		for _, n := range s.Nodes {
			if !held[n] {
				up = append(up, n)
			}
		}
		mu.Unlock()
		n := up[rand.IntN(len(up))]
		if err := n.Kill(); err != nil {
			return err
		}
		s.History.Add(Event{Kind: EventKill, Who: "supervisor", Node: n.URL()})
		down := time.Duration(rand.IntN(200)) * time.Millisecond
		if i == len(points)/2 && len(s.Nodes) > 1 {
			down = s.HoldDown
		}
		start := func() {
			pause(ctx, down)
			err := n.Start(ctx)
			if err == nil {
				s.History.Add(Event{Kind: EventStart, Who: "supervisor", Node: n.URL()})
			}
			mu.Lock()
			errs = append(errs, err)
			delete(held, n)
			mu.Unlock()
		}
		if down > time.Second {
			mu.Lock()
			held[n] = true
			mu.Unlock()
			wg.Go(start) // the others go on being killed meanwhile
			continue
		}
		start()
		mu.Lock()
		err := errors.Join(errs...)
		mu.Unlock()
		if err != nil {
			return err
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}
