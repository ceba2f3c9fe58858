// Command crossbuild writes and reads back a data dir for
// TestBuildsShareDataDir, which builds it with and without cgo: with cgo,
// Pebble's zstd is the C library (github.com/DataDog/zstd) and its block
// cache lives in C memory; without, zstd is github.com/klauspost/compress
// and the cache is on the Go heap.
//
//	crossbuild write DIR N       N jobs in a store in DIR (several flushed sstables)
//	crossbuild read DIR N        check that DIR holds exactly those N jobs
//	crossbuild zstd-write DIR N  N keys in a bare Pebble DB whose tables are zstd-compressed
//	crossbuild zstd-read DIR N   check those N keys
//
// Each prints one JSON line: whether it was built with cgo, how many jobs
// or keys it wrote or read, and the compression of each sstable in DIR.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

type report struct {
	CGO         bool     `json:"cgo"`
	N           int      `json:"n"`
	Compression []string `json:"compression"` // of each sstable
}

func main() {
	if len(os.Args) != 4 {
		fail(fmt.Errorf("usage: crossbuild write|read|zstd-write|zstd-read DIR N"))
	}
	mode, dir := os.Args[1], os.Args[2]
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fail(err)
	}
	switch mode {
	case "write":
		err = writeJobs(dir, n)
	case "read":
		err = readJobs(dir, n)
	case "zstd-write":
		err = writeZstd(dir, n)
	case "zstd-read":
		err = readZstd(dir, n)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fail(err)
	}
	r := report{CGO: cgo(), N: n}
	if r.Compression, err = compressions(dir, mode == "zstd-write" || mode == "zstd-read"); err != nil {
		fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crossbuild:", err)
	os.Exit(1)
}

func cgo() bool {
	bi, _ := debug.ReadBuildInfo()
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "1"
		}
	}
	return false
}

// pad makes values large and compressible, so that the memtables flush
// into sstables whose blocks are compressed.
var pad = strings.Repeat("gantry crossbuild ", 64)

func args(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"i":%d,"pad":%q}`, i, pad))
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func writeJobs(dir string, n int) error {
	s, err := embedded.Open(dir, &embedded.Options{MemTableSize: 1 << 20})
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := 0; i < n; i += 100 {
		var jobs []*store.NewJob
		for j := i; j < min(i+100, n); j++ {
			jobs = append(jobs, &store.NewJob{Kind: "crossbuild", Queue: "default", Args: args(j), RunAt: t0, Priority: 5, MaxAttempts: 3, Timeout: time.Minute})
		}
		if _, err := s.Enqueue(ctx, &store.EnqueueParams{Jobs: jobs, Now: t0}); err != nil {
			s.Close()
			return err
		}
	}
	return s.Close()
}

func readJobs(dir string, n int) error {
	s, err := embedded.Open(dir, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	seen := make([]bool, n)
	cursor := ""
	for {
		page, err := s.List(context.Background(), &store.ListParams{Limit: store.MaxListLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, j := range page.Jobs {
			var a struct {
				I   int    `json:"i"`
				Pad string `json:"pad"`
			}
			if err := json.Unmarshal(j.Args, &a); err != nil || a.I < 0 || a.I >= n || a.Pad != pad || seen[a.I] {
				return fmt.Errorf("job %s: unexpected args %.80s (%v)", j.ID, j.Args, err)
			}
			seen[a.I] = true
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("job %d of %d is missing", i, n)
		}
	}
	return nil
}

func zstdOptions(readOnly bool) *pebble.Options {
	o := &pebble.Options{ReadOnly: readOnly, Logger: quiet{}}
	for i := range o.Levels {
		o.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.ZstdCompression }
	}
	return o
}

func writeZstd(dir string, n int) error {
	db, err := pebble.Open(dir, zstdOptions(false))
	if err != nil {
		return err
	}
	for i := range n {
		if err := db.Set(fmt.Appendf(nil, "k%08d", i), []byte(pad+strconv.Itoa(i)), pebble.NoSync); err != nil {
			db.Close()
			return err
		}
	}
	if err := db.Flush(); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

func readZstd(dir string, n int) error {
	db, err := pebble.Open(dir, zstdOptions(true))
	if err != nil {
		return err
	}
	defer db.Close()
	for i := range n {
		v, closer, err := db.Get(fmt.Appendf(nil, "k%08d", i))
		if err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		ok := bytes.Equal(v, []byte(pad+strconv.Itoa(i)))
		closer.Close()
		if !ok {
			return fmt.Errorf("key %d: wrong value", i)
		}
	}
	return nil
}

// compressions returns the compression of each sstable in dir, opening it
// read-only after the store closed it.
func compressions(dir string, zstd bool) ([]string, error) {
	o := &pebble.Options{ReadOnly: true, Logger: quiet{}}
	if zstd {
		o = zstdOptions(true)
	}
	db, err := pebble.Open(dir, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	levels, err := db.SSTables(pebble.WithProperties())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, tables := range levels {
		for _, t := range tables {
			out = append(out, t.Properties.CompressionName)
		}
	}
	return out, nil
}

// quiet drops Pebble's informational messages.
type quiet struct{}

func (quiet) Infof(string, ...any) {}
func (quiet) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quiet) Fatalf(format string, args ...any) {
	fail(fmt.Errorf("pebble: "+format, args...))
}
