// Command chaoscheck judges chaos histories offline: it reads each file
// named (JSON lines, as bench/chaos writes them and docs/reliability.md
// describes), prints the verdict and its figures, and exits 1 when a
// history breaks a promise.
//
//	go run ./bench/chaos/chaoscheck bin/chaos/embedded/history.jsonl
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/gantry-dev/gantry/bench/chaos"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(paths []string, stdout, stderr io.Writer) int {
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "usage: chaoscheck HISTORY.jsonl...")
		return 2
	}
	code := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintln(stderr, "chaoscheck:", err)
			return 2
		}
		events, err := chaos.ReadHistory(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "chaoscheck: %s: %v\n", p, err)
			return 2
		}
		v := chaos.Check(events)
		fmt.Fprintf(stdout, "%s: %d events\n%s", p, len(events), v)
		if !v.OK() {
			code = 1
		}
	}
	return code
}
