package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// A stream as `go test -json` writes it: a passing package, a failing
// one with a failed subtest, and tests skipped for want of a service.
const stream = `{"Action":"start","Package":"m/a"}
{"Action":"run","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestOK"}
{"Action":"run","Package":"m/a","Test":"TestPG"}
{"Action":"output","Package":"m/a","Test":"TestPG","Output":"=== RUN   TestPG\n"}
{"Action":"output","Package":"m/a","Test":"TestPG","Output":"    pg_test.go:30: set GANTRY_TEST_POSTGRES_URL=postgres://... to run\n"}
{"Action":"output","Package":"m/a","Test":"TestPG","Output":"--- SKIP: TestPG (0.00s)\n"}
{"Action":"skip","Package":"m/a","Test":"TestPG"}
{"Action":"output","Package":"m/a","Output":"PASS\n"}
{"Action":"output","Package":"m/a","Output":"ok  \tm/a\t0.01s\n"}
{"Action":"pass","Package":"m/a"}
{"Action":"run","Package":"m/b","Test":"TestX"}
{"Action":"output","Package":"m/b","Test":"TestX","Output":"=== RUN   TestX\n"}
{"Action":"output","Package":"m/b","Test":"TestX","Output":"    x_test.go:4: before\n"}
{"Action":"run","Package":"m/b","Test":"TestX/sub"}
{"Action":"output","Package":"m/b","Test":"TestX/sub","Output":"=== RUN   TestX/sub\n"}
{"Action":"output","Package":"m/b","Test":"TestX/sub","Output":"    x_test.go:5: boom\n"}
{"Action":"output","Package":"m/b","Test":"TestX/sub","Output":"--- FAIL: TestX/sub (0.00s)\n"}
{"Action":"fail","Package":"m/b","Test":"TestX/sub"}
{"Action":"output","Package":"m/b","Test":"TestX","Output":"--- FAIL: TestX (0.00s)\n"}
{"Action":"fail","Package":"m/b","Test":"TestX"}
{"Action":"run","Package":"m/b","Test":"TestPG2"}
{"Action":"output","Package":"m/b","Test":"TestPG2","Output":"    pg_test.go:30: set GANTRY_TEST_POSTGRES_URL=postgres://... to run\n"}
{"Action":"skip","Package":"m/b","Test":"TestPG2"}
{"Action":"output","Package":"m/b","Output":"FAIL\n"}
{"Action":"output","Package":"m/b","Output":"FAIL\tm/b\t0.02s\n"}
{"Action":"fail","Package":"m/b"}
`

func TestReport(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	r := newReport(&out, false)
	r.trim = "m/"
	if err := r.read(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	if r.summary(&out) {
		t.Error("the report passed with a failed test")
	}
	want := `ok  	m/a	0.01s
--- FAIL: TestX (0.00s)
    x_test.go:4: before
    --- FAIL: TestX/sub (0.00s)
        x_test.go:5: boom
FAIL
FAIL	m/b	0.02s

Skipped 2 tests and subtests, for these reasons (each says how to run them):
  set GANTRY_TEST_POSTGRES_URL=postgres://... to run
      a (TestPG); b (TestPG2)
1 passed, 2 failed, 2 skipped (tests and subtests in 2 packages, 1 failed)
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestReportNothing(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	r := newReport(&out, false)
	if err := r.read(strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if r.summary(&out) {
		t.Error("a report of no events passed")
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
