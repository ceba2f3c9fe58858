// Command testreport reads `go test -json` on stdin and prints what go test
// prints without -json: a line per package ("ok", "FAIL", "?"), and the
// output of the tests that failed (every test's output with -v). Then it
// says which tests were skipped, grouped by the reason they gave (which
// says how to run them: "set GANTRY_TEST_POSTGRES_URL=..."), and ends with
// one plain line:
//
//	1234 passed, 0 failed, 31 skipped (tests and subtests in 42 packages)
//
// It exits 1 when a test or a package failed, or when go test's own exit
// status, in the file named by -status, is not 0. `make unit` runs it, so
// that a test suite that skips for want of PostgreSQL or S3 says so.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json), with the fields
// used here.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // of build-output events
}

func main() {
	verbose := flag.Bool("v", false, "print the output of every test, as go test -v does")
	status := flag.String("status", "", "`file` holding go test's exit status; not 0 fails the report")
	save := flag.String("summary", "", "also write the list of skipped tests and the closing line to `file`, for a caller to print again later")
	trim := flag.String("trim", "", "`prefix` to cut from package paths in the list of skipped tests (the module path and a slash)")
	flag.Parse()
	r := newReport(os.Stdout, *verbose)
	r.trim = *trim
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	var sum strings.Builder
	ok := r.summary(io.MultiWriter(os.Stdout, &sum))
	if *save != "" {
		if err := os.WriteFile(*save, []byte(sum.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			ok = false
		}
	}
	if *status != "" {
		b, err := os.ReadFile(*status)
		code, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		switch {
		case err != nil || perr != nil:
			fmt.Fprintf(os.Stderr, "testreport: go test's exit status: %v%v\n", err, perr)
			ok = false
		case code != 0 && ok:
			fmt.Printf("go test exited with status %d\n", code)
			ok = false
		case code != 0:
			ok = false
		}
	}
	if !ok {
		os.Exit(1)
	}
}

type report struct {
	w       io.Writer
	verbose bool
	// output buffers each running test's output until it ends:
	// package + "\x00" + test.
	trim     string // cut from package paths
	output   map[string][]string
	skips    map[string][]skipped // by reason
	passed   int
	failed   int
	packages int
	pkgFails int
	events   int
}

type skipped struct{ pkg, test string }

func newReport(w io.Writer, verbose bool) *report {
	return &report{w: w, verbose: verbose, output: map[string][]string{}, skips: map[string][]skipped{}}
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event: go test's own messages (a failed build of a
			// test binary before Go 1.24, "no packages to test"...).
			fmt.Fprintf(r.w, "%s\n", line)
			continue
		}
		r.events++
		r.event(&e)
	}
	return sc.Err()
}

func (r *report) event(e *event) {
	switch {
	case e.Action == "build-output":
		fmt.Fprint(r.w, e.Output)
	case e.Test == "":
		r.packageEvent(e)
	default:
		r.testEvent(e)
	}
}

// packageEvent prints a package's own lines: "ok ...", "FAIL ...", "? ...",
// and what a test binary printed outside any test (a panic, a timeout),
// but not the "PASS" that only -v prints.
func (r *report) packageEvent(e *event) {
	switch e.Action {
	case "output":
		if e.Output == "PASS\n" && !r.verbose {
			return
		}
		fmt.Fprint(r.w, e.Output)
	case "pass", "skip":
		r.packages++
	case "fail":
		r.packages++
		r.pkgFails++
	}
}

var logLine = regexp.MustCompile(`^\s+[^\s:]+\.go:\d+: (.*)$`)

func (r *report) testEvent(e *event) {
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "output":
		if r.verbose {
			fmt.Fprint(r.w, e.Output)
			return
		}
		r.output[key] = append(r.output[key], e.Output)
	case "pass":
		r.passed++
		delete(r.output, key)
	case "fail":
		r.failed++
		if !r.verbose {
			r.failedOutput(e, key)
		}
		delete(r.output, key)
	case "skip":
		reason := "(no reason given)"
		for _, l := range r.output[key] {
			if m := logLine.FindStringSubmatch(strings.TrimRight(l, "\n")); m != nil {
				reason = m[1]
				break
			}
		}
		r.skips[reason] = append(r.skips[reason], skipped{e.Package, e.Test})
		delete(r.output, key)
	}
}

// failedOutput prints a failed test's output as go test does without -v:
// its "--- FAIL" line first (-json streams it last), then its logs, then
// its failed subtests indented below it. A subtest's output waits in its
// parent's until the parent ends.
func (r *report) failedOutput(e *event, key string) {
	var lines []string
	for _, l := range r.output[key] {
		switch {
		case strings.HasPrefix(l, "=== "):
		case strings.HasPrefix(l, "--- FAIL: "+e.Test+" ("):
			lines = append([]string{l}, lines...)
		default:
			lines = append(lines, l)
		}
	}
	if i := strings.LastIndexByte(e.Test, '/'); i > 0 {
		parent := e.Package + "\x00" + e.Test[:i]
		if _, ok := r.output[parent]; ok {
			for _, l := range lines {
				r.output[parent] = append(r.output[parent], "    "+l)
			}
			return
		}
	}
	for _, l := range lines {
		fmt.Fprint(r.w, l)
	}
}

// summary prints the skipped tests and the closing line to w, and reports
// whether everything passed.
func (r *report) summary(w io.Writer) bool {
	n := 0
	for _, s := range r.skips {
		n += len(s)
	}
	if n > 0 {
		reasons := make([]string, 0, len(r.skips))
		for reason := range r.skips {
			reasons = append(reasons, reason)
		}
		// The reasons that skip the most first: a missing service.
		sort.Slice(reasons, func(i, j int) bool {
			a, b := r.skips[reasons[i]], r.skips[reasons[j]]
			if len(a) != len(b) {
				return len(a) > len(b)
			}
			return reasons[i] < reasons[j]
		})
		fmt.Fprintf(w, "\nSkipped %d tests and subtests, for these reasons (each says how to run them):\n", n)
		for _, reason := range reasons {
			fmt.Fprintf(w, "  %s\n      %s\n", reason, where(r.skips[reason], r.trim))
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped (tests and subtests in %d packages", r.passed, r.failed, n, r.packages)
	if r.pkgFails > 0 {
		fmt.Fprintf(w, ", %d failed", r.pkgFails)
	}
	fmt.Fprintln(w, ")")
	return r.failed == 0 && r.pkgFails == 0 && r.events > 0
}

// where names the tests of one reason: the packages, and the tests when
// they are few.
func where(s []skipped, trim string) string {
	byPkg := map[string][]string{}
	var pkgs []string
	for _, t := range s {
		pkg := strings.TrimPrefix(t.pkg, trim)
		if pkg == "" {
			pkg = "."
		}
		if _, ok := byPkg[pkg]; !ok {
			pkgs = append(pkgs, pkg)
		}
		byPkg[pkg] = append(byPkg[pkg], t.test)
	}
	sort.Strings(pkgs)
	parts := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		tests := byPkg[p]
		if len(tests) <= 3 {
			parts = append(parts, p+" ("+strings.Join(tests, ", ")+")")
		} else {
			parts = append(parts, fmt.Sprintf("%s (%d tests)", p, len(tests)))
		}
	}
	return strings.Join(parts, "; ")
}
