package engines

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
)

// valueSize is the size of one write: about a small job's encoded record.
const valueSize = 300

var value = bytes.Repeat([]byte{'v'}, valueSize)

// kv is the little an engine has to offer to these benchmarks.
type kv interface {
	// put writes key=value durably (fsynced) before returning.
	put(key []byte) error
	// popHead deletes up to n of the smallest keys durably and returns how
	// many it deleted.
	popHead(n int) (int, error)
	close() error
}

type engine struct {
	name string
	open func(b *testing.B, dir string) kv
}

var engines = []engine{
	{"pebble", openPebble},
	{"bbolt-default", func(b *testing.B, dir string) kv { return openBolt(b, dir, false) }},
	{"bbolt-tuned", func(b *testing.B, dir string) kv { return openBolt(b, dir, true) }},
}

// pebbleKV uses one batch per write committed with pebble.Sync: Pebble's
// commit pipeline shares one WAL fsync among concurrent commits.
//
// popHead seeks from the first key and deletes with SingleDelete. It
// cannot keep a cursor past the keys it deleted: concurrent writers take
// keys in one order and commit them in another, so a key below the cursor
// may still appear. (Gantry's store can, because its one committer hands
// out the sequence numbers.)
type pebbleKV struct {
	db *pebble.DB
}

func openPebble(b *testing.B, dir string) kv {
	db, err := pebble.Open(dir, &pebble.Options{
		Cache:        pebble.NewCache(32 << 20),
		MemTableSize: 32 << 20,
		Logger:       quietLogger{},
	})
	if err != nil {
		b.Fatal(err)
	}
	return &pebbleKV{db: db}
}

func (p *pebbleKV) put(key []byte) error {
	return p.db.Set(key, value, pebble.Sync)
}

func (p *pebbleKV) popHead(n int) (int, error) {
	it, err := p.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	batch := p.db.NewBatch()
	k := 0
	var last []byte
	for valid := it.First(); valid && k < n; valid = it.Next() {
		last = append(last[:0], it.Key()...)
		if err := batch.SingleDelete(last, nil); err != nil {
			return 0, err
		}
		k++
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if k == 0 {
		batch.Close()
		return 0, nil
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return 0, err
	}
	return k, batch.Close()
}

func (p *pebbleKV) close() error { return p.db.Close() }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// boltKV writes through DB.Batch, bbolt's group commit.
type boltKV struct {
	db *bolt.DB
}

var bucket = []byte("q")

func openBolt(b *testing.B, dir string, tuned bool) kv {
	db, err := bolt.Open(dir+"/bolt.db", 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	if tuned {
		db.MaxBatchSize = 64
		db.MaxBatchDelay = time.Millisecond
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return &boltKV{db: db}
}

func (k *boltKV) put(key []byte) error {
	return k.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put(key, value)
	})
}

func (k *boltKV) popHead(n int) (int, error) {
	deleted := 0
	err := k.db.Update(func(tx *bolt.Tx) error {
		deleted = 0
		c := tx.Bucket(bucket).Cursor()
		for key, _ := c.First(); key != nil && deleted < n; key, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	return deleted, err
}

func (k *boltKV) close() error { return k.db.Close() }

func keyOf(i uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, i)
}

// runWriters calls put b.N times in all from the given number of
// goroutines and reports writes per second.
func runWriters(b *testing.B, db kv, writers int) {
	var next atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	b.ResetTimer()
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > uint64(b.N) {
					return
				}
				if err := db.put(keyOf(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkSyncedWrites: 300-byte writes, each durable on return, from 64
// goroutines (group commit at work) and from one.
func BenchmarkSyncedWrites(b *testing.B) {
	for _, e := range engines {
		for _, writers := range []int{64, 1} {
			b.Run(fmt.Sprintf("%s/writers=%d", e.name, writers), func(b *testing.B) {
				db := e.open(b, b.TempDir())
				defer db.close()
				runWriters(b, db, writers)
				b.StopTimer()
				b.ReportMetric(rssMB(), "rss-MB")
			})
		}
	}
}

// BenchmarkQueue is the shape of a job queue: 64 goroutines insert at the
// tail (synced) while one consumer deletes from the head in synced batches
// of up to 256, until all b.N items went through.
func BenchmarkQueue(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			db := e.open(b, b.TempDir())
			defer db.close()
			var consumed int
			done := make(chan error, 1)
			var produced atomic.Bool
			go func() {
				for consumed < b.N {
					// Read the flag first: when it was set before popHead
					// looked, an empty head means items were lost.
					wasProduced := produced.Load()
					n, err := db.popHead(256)
					if err != nil {
						done <- err
						return
					}
					consumed += n
					if n == 0 && wasProduced && consumed < b.N {
						done <- fmt.Errorf("consumed %d of %d", consumed, b.N)
						return
					}
				}
				done <- nil
			}()
			start := time.Now()
			runWriters(b, db, 64)
			produced.Store(true)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
			b.StopTimer()
			b.ReportMetric(rssMB(), "rss-MB")
		})
	}
}

// scanner is an engine that can read every key back.
type scanner interface {
	scanAll() (int, error)
}

func (p *pebbleKV) scanAll() (int, error) {
	it, err := p.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n += len(it.Value())
	}
	return n, it.Close()
}

func (k *boltKV) scanAll() (int, error) {
	n := 0
	err := k.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			n += len(v)
			return nil
		})
	})
	return n, err
}

// BenchmarkResidentAfterScan writes a 400,000-item backlog (about 120 MB
// of values), then reads all of it back, and reports how much the
// process's file-backed resident memory grew (bbolt reads through mmap, so
// every page it touches counts) and its anonymous resident memory. Each
// iteration is one whole run; use -benchtime 1x.
func BenchmarkResidentAfterScan(b *testing.B) {
	const items = 400_000
	for _, e := range engines {
		if e.name == "bbolt-default" {
			continue // same file layout as bbolt-tuned
		}
		b.Run(e.name, func(b *testing.B) {
			for range b.N {
				db := e.open(b, b.TempDir())
				for i := 0; i < items; i += 1000 {
					if err := bulkLoad(db, i, 1000); err != nil {
						b.Fatal(err)
					}
				}
				fileBefore := procStatusMB("RssFile:")
				if _, err := db.(scanner).scanAll(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(procStatusMB("RssFile:")-fileBefore, "rss-file-growth-MB")
				b.ReportMetric(procStatusMB("RssAnon:"), "rss-anon-MB")
				db.close()
			}
		})
	}
}

// bulkLoad writes n items from start in one transaction.
func bulkLoad(db kv, start, n int) error {
	switch db := db.(type) {
	case *pebbleKV:
		batch := db.db.NewBatch()
		for i := start; i < start+n; i++ {
			batch.Set(keyOf(uint64(i)), value, nil)
		}
		return batch.Commit(pebble.NoSync)
	case *boltKV:
		return db.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			for i := start; i < start+n; i++ {
				if err := bk.Put(keyOf(uint64(i)), value); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return fmt.Errorf("unknown engine %T", db)
}

// rssMB is this process's resident set size, file-backed pages (bbolt's
// mmap) included.
func rssMB() float64 { return procStatusMB("VmRSS:") }

// procStatusMB reads one kB figure of /proc/self/status, in MB.
func procStatusMB(field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}
