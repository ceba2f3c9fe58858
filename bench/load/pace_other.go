//go:build !linux

package load

import (
	"context"
	"time"
)

// pacer sleeps with the runtime's timers, which may wake a little late;
// Result.SendLag shows by how much.
type pacer struct{}

func newPacer() *pacer { return &pacer{} }

func (p *pacer) sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

func (p *pacer) close() {}

// cpuMeter measures nothing outside Linux.
type cpuMeter struct {
	used    time.Duration
	machine time.Duration
}

func (m *cpuMeter) measure(ctx context.Context, from, to time.Time) {}
