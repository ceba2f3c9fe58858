package s3test

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the server when the test process dies without
// stopping it (a test timeout, a crash).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
