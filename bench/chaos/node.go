package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Node is one `gantry serve` process that the supervisor may kill and
// start again, always on the same address and with the same arguments.
type Node struct {
	// Bin is the gantry binary; Args follow "serve" (the node adds
	// --addr); Env is the process's whole environment.
	Bin  string
	Args []string
	Env  []string
	// Log receives the process's standard error (nil: discarded).
	Log io.Writer

	addr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// NewNode returns a node on a free loopback port.
func NewNode(bin string, env []string, log io.Writer, args ...string) (*Node, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gantry: chaos: a free port: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return &Node{Bin: bin, Args: args, Env: env, Log: log, addr: addr}, nil
}

// URL is the node's base URL.
func (n *Node) URL() string { return "http://" + n.addr }

// Start starts the process and waits until /readyz answers 200.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.cmd != nil {
		n.mu.Unlock()
		return errors.New("gantry: chaos: node already runs")
	}
	cmd := exec.Command(n.Bin, append([]string{"serve", "--addr", n.addr}, n.Args...)...)
	cmd.Env = n.Env
	cmd.Stderr = n.Log
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("gantry: chaos: start %s: %w", n.addr, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-done:
			n.forget(cmd)
			return fmt.Errorf("gantry: chaos: node %s exited at start: %v", n.addr, cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if res, err := client.Get(n.URL() + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gantry: chaos: node %s not ready after 90s", n.addr)
		}
	}
}

func (n *Node) forget(cmd *exec.Cmd) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == cmd {
		n.cmd, n.done = nil, nil
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (n *Node) Kill() error { return n.stop(syscall.SIGKILL, 0) }

// Stop sends SIGTERM and waits up to timeout, then kills.
func (n *Node) Stop(timeout time.Duration) error { return n.stop(syscall.SIGTERM, timeout) }

func (n *Node) stop(sig os.Signal, timeout time.Duration) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("gantry: chaos: signal %s: %w", n.addr, err)
	}
	if timeout > 0 {
		select {
		case <-done:
		case <-time.After(timeout):
			_ = cmd.Process.Kill()
		}
	}
	<-done
	n.forget(cmd)
	return nil
}
