package load

import (
	"context"
	"runtime"
	"syscall"
	"time"
)

// prctl(2) options for the timer slack of the calling thread.
const (
	prSetTimerSlack = 29
	prGetTimerSlack = 30
)

// pacer sleeps until the times of the timetable on its own OS thread with
// nanosleep(2), which wakes within microseconds; the runtime's timers wake
// up to a millisecond late when the process is otherwise idle.
type pacer struct {
	slack uintptr // the thread's timer slack before, to restore
}

// newPacer locks the calling goroutine to its thread and sets the thread's
// timer slack to 1 ns (the default, 50 µs, would let the kernel wake it
// that much later). close undoes both.
func newPacer() *pacer {
	runtime.LockOSThread()
	slack, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	if errno != 0 {
		return &pacer{}
	}
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	return &pacer{slack: slack}
}

func (p *pacer) sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(d))
		// EINTR (a signal, such as the runtime's preemption) sleeps again.
		_ = syscall.Nanosleep(&ts, nil)
	}
}

func (p *pacer) close() {
	if p.slack != 0 {
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, p.slack, 0)
	}
	runtime.UnlockOSThread()
}

// cpuMeter measures the CPU time the process uses in a window.
type cpuMeter struct {
	used time.Duration
}

// measure records the process's CPU time between from and to, unless ctx
// ends first.
func (m *cpuMeter) measure(ctx context.Context, from, to time.Time) {
	if !waitUntil(ctx, from) {
		return
	}
	before, ok := processCPU()
	if !ok || !waitUntil(ctx, to) {
		return
	}
	if after, ok := processCPU(); ok {
		m.used = after - before
	}
}

func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// waitUntil waits until t and reports whether ctx is still alive.
func waitUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
