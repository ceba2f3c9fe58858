package embedded

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestBuildsShareDataDir builds a program on this store twice, with cgo (as
// `go build` does by default where a C compiler is found: Pebble then uses
// the C zstd of github.com/DataDog/zstd) and with CGO_ENABLED=0 (as release
// and container builds are: pure-Go zstd from github.com/klauspost/compress),
// and checks that a data dir written by either build is read whole by the
// other. The store writes Snappy-compressed tables in both builds, which the
// test checks too; tables compressed with zstd are read across builds as
// well, in case a later Pebble or a later Options choose it.
func TestBuildsShareDataDir(t *testing.T) {
	t.Parallel()
	gobin := goBinary(t)
	cc, _ := exec.Command(gobin, "env", "CC").Output()
	if _, err := exec.LookPath(strings.TrimSpace(string(cc))); err != nil {
		t.Skipf("no C compiler (go env CC = %q): only the CGO_ENABLED=0 build can be made here", strings.TrimSpace(string(cc)))
	}
	bins := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, cgo := range []string{"0", "1"} {
		wg.Go(func() {
			out := filepath.Join(t.TempDir(), "crossbuild-cgo"+cgo)
			cmd := exec.Command(gobin, "build", "-o", out, "./testdata/crossbuild")
			cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("CGO_ENABLED=%s go build: %v\n%s", cgo, err, b)
				return
			}
			mu.Lock()
			bins[cgo] = out
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const n = 3000 // about 3.5 MB of jobs: several 1 MiB memtables flushed to sstables
	run := func(cgo, mode, dir string) crossReport {
		t.Helper()
		out, err := exec.Command(bins[cgo], mode, dir, strconv.Itoa(n)).Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("CGO_ENABLED=%s crossbuild %s: %v\n%s", cgo, mode, err, ee.Stderr)
		} else if err != nil {
			t.Fatal(err)
		}
		var r crossReport
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("crossbuild %s: %q: %v", mode, out, err)
		}
		if r.CGO != (cgo == "1") || r.N != n || len(r.Compression) == 0 {
			t.Fatalf("CGO_ENABLED=%s crossbuild %s: %+v", cgo, mode, r)
		}
		return r
	}
	for _, tc := range []struct{ writer, reader string }{{"1", "0"}, {"0", "1"}} {
		dir := filepath.Join(t.TempDir(), "jobs")
		w := run(tc.writer, "write", dir)
		r := run(tc.reader, "read", dir)
		for _, c := range append(w.Compression, r.Compression...) {
			if c != "Snappy" {
				t.Errorf("CGO_ENABLED=%s wrote a %s table; docs/decisions/0007-static-builds.md says Snappy", tc.writer, c)
			}
		}
		zdir := filepath.Join(t.TempDir(), "zstd")
		run(tc.writer, "zstd-write", zdir)
		for _, c := range run(tc.reader, "zstd-read", zdir).Compression {
			if c != "ZSTD" {
				t.Errorf("a table of the zstd DB is %s", c)
			}
		}
		t.Logf("written with CGO_ENABLED=%s, read with CGO_ENABLED=%s: %d jobs in %d sstables (%s); zstd tables read too",
			tc.writer, tc.reader, n, len(w.Compression), strings.Join(w.Compression, ","))
	}
}

// crossReport is what testdata/crossbuild prints.
type crossReport struct {
	CGO         bool     `json:"cgo"`
	N           int      `json:"n"`
	Compression []string `json:"compression"`
}

func goBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the test program")
	}
	return p
}
