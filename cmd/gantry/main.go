// Command gantry is Gantry's server and its command-line client.
//
//	gantry serve                      run the job server (127.0.0.1:8080, data in ./gantry-data)
//	gantry enqueue KIND --args JSON   enqueue a job through a running server
//	gantry jobs ls|get|wait|cancel|retry
//	gantry queues ls|pause|resume
//	gantry migrate status|up|down     PostgreSQL schema migrations
//	gantry version
//
// Run `gantry --help` for every command, its flags, environment variables
// and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default handling: a second
		// one ends the process at once instead of waiting for the drain.
		<-ctx.Done()
		stop()
	}()
	e := &env{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	if isTerminal(os.Stdout) && isTerminal(os.Stderr) {
		e.progress = os.Stderr
	}
	code := run(ctx, os.Args[1:], e)
	stop()
	os.Exit(code)
}
