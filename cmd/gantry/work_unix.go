//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the command in a process group of its own: a
// terminal's Ctrl-C reaches gantry work, which lets the command finish, and
// a kill reaches the command's children too.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup kills the command and every process of its group.
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
