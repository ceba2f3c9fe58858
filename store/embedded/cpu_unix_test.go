//go:build unix

package embedded

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used, user and system,
// or 0 when the system does not say.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
