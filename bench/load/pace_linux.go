package load

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pacer sleeps until the times of the timetable on a timerfd(2) read
// through the runtime's network poller: the kernel wakes it within
// microseconds, and while it waits it holds neither an OS thread nor a P.
// The runtime's own timers wake up to a millisecond late when the process
// is otherwise idle (the poller's timeout has millisecond resolution),
// which would charge the generator's lag to the server; and a thread
// asleep in nanosleep(2) keeps its P until sysmon takes it back, which on
// a 2-CPU machine starves the server.
type pacer struct {
	f *os.File // the timerfd, nil when it could not be made
}

func newPacer() *pacer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &pacer{}
	}
	// A non-blocking descriptor joins the network poller.
	return &pacer{f: os.NewFile(uintptr(fd), "timerfd")}
}

func (p *pacer) sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		if p.f == nil || !p.wait(d) {
			time.Sleep(d)
			return
		}
	}
}

// wait arms the timer for d and waits until it fires. It reports false
// when the timerfd fails, so that the caller falls back on time.Sleep.
func (p *pacer) wait(d time.Duration) bool {
	sc, err := p.f.SyscallConn()
	if err != nil {
		return false
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	var setErr error
	if err := sc.Control(func(fd uintptr) {
		setErr = unix.TimerfdSettime(int(fd), 0, &spec, nil)
	}); err != nil || setErr != nil {
		return false
	}
	var buf [8]byte
	for {
		// The read returns the number of expirations once the timer has
		// fired; until then the goroutine is parked in the poller.
		n, err := p.f.Read(buf[:])
		switch {
		case err == nil && n == 8 && binary.NativeEndian.Uint64(buf[:]) > 0:
			return true
		case errors.Is(err, syscall.EINTR):
			continue
		default:
			return false
		}
	}
}

func (p *pacer) close() {
	if p.f != nil {
		p.f.Close()
	}
}

// cpuMeter measures the CPU time the process, and the whole machine, use
// in a window.
type cpuMeter struct {
	used    time.Duration
	machine time.Duration
}

// measure records the process's CPU time between from and to, unless ctx
// ends first.
func (m *cpuMeter) measure(ctx context.Context, from, to time.Time) {
	if !waitUntil(ctx, from) {
		return
	}
	before, ok := processCPU()
	machineBefore, machineOK := machineCPU()
	if !ok || !waitUntil(ctx, to) {
		return
	}
	if after, ok := processCPU(); ok {
		m.used = after - before
	}
	if after, ok := machineCPU(); ok && machineOK {
		m.machine = after - machineBefore
	}
}

// userHZ is the unit of /proc/stat: 100 ticks a second on every Linux
// architecture Go supports.
const userHZ = 100

// machineCPU returns the CPU time all processes used since boot, from the
// first line of /proc/stat: everything but idle and iowait.
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, false
	}
	var busy int64
	// user nice system idle iowait irq softirq steal (guest time is
	// already in user).
	for i, f := range fields[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, false
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / userHZ, true
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
