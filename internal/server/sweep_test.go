package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob"
	blobfs "github.com/gantry-dev/gantry/blob/fs"
	blobs3 "github.com/gantry-dev/gantry/blob/s3"
	"github.com/gantry-dev/gantry/blob/s3/s3test"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

// TestBlobSweep: on both blob stores, a sweep deletes the uploads older
// than the grace period that no job refers to, and keeps those a job
// refers to, those within the grace period and other keys; the next sweep
// looks only at what was stored since.
func TestBlobSweep(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) blobStore{
		"fs": func(t *testing.T) blobStore {
			st, err := blobfs.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"s3": func(t *testing.T) blobStore {
			srv := s3test.StartT(t)
			st, err := blobs3.Open(t.Context(), srv.URL(srv.NewBucket(t), "gantry"),
				&blobs3.Options{AccessKeyID: s3test.AccessKeyID, SecretAccessKey: s3test.SecretAccessKey, Getenv: func(string) string { return "" }})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			blobs := open(t)
			t.Cleanup(func() { blobs.Close() })
			js, err := embedded.Open(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { js.Close() })
			client, err := gantry.NewClient(js, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			put := func(key string) *blob.Info {
				info, err := blobs.Put(ctx, key, strings.NewReader(key), "text/plain", 0)
				if err != nil {
					t.Fatal(err)
				}
				return info
			}
			referenced := httpapi.UploadKeyPrefix + store.NewID()
			info := put(referenced)
			if _, err := client.EnqueueBatch(ctx, []gantry.JobSpec{{Kind: "k", Opts: &gantry.EnqueueOpts{Blob: info}}}, nil); err != nil {
				t.Fatal(err)
			}
			orphan := httpapi.UploadKeyPrefix + store.NewID()
			put(orphan)
			other := "elsewhere/" + store.NewID()
			put(other)

			const grace = time.Hour
			now := time.Now().Add(grace + time.Minute)
			w := &sweeper{blobs: blobs.(blob.Lister), delete: blobs.Delete, jobs: client.List, grace: grace, now: func() time.Time { return now }}
			res, err := w.sweep(ctx)
			if err != nil || res.Checked != 2 || res.Deleted != 1 {
				t.Fatalf("sweep: %+v, %v; want 2 checked, 1 deleted", res, err)
			}
			exists := func(key string) bool {
				rc, _, err := blobs.Open(ctx, key)
				if errors.Is(err, blob.ErrNotFound) {
					return false
				}
				if err != nil {
					t.Fatal(err)
				}
				rc.Close()
				return true
			}
			if exists(orphan) || !exists(referenced) || !exists(other) {
				t.Errorf("after the sweep: orphan %v, referenced %v, other key %v; want false, true, true",
					exists(orphan), exists(referenced), exists(other))
			}

			// The next sweep does not look again at what the last one saw.
			if res, err := w.sweep(ctx); err != nil || res.Checked != 0 {
				t.Errorf("second sweep: %+v, %v; want nothing checked", res, err)
			}

			// Uploads within the grace period are left alone (a new
			// process's sweeper, on the real clock), until they are older.
			recent := httpapi.UploadKeyPrefix + store.NewID()
			put(recent)
			now = time.Now()
			w = &sweeper{blobs: blobs.(blob.Lister), delete: blobs.Delete, jobs: client.List, grace: grace, now: func() time.Time { return now }}
			if res, err := w.sweep(ctx); err != nil || res.Checked != 0 || !exists(recent) {
				t.Errorf("sweep within the grace period: %+v, %v; want nothing checked", res, err)
			}
			now = now.Add(grace + time.Minute)
			if res, err := w.sweep(ctx); err != nil || res.Checked != 2 || res.Deleted != 1 || exists(recent) || !exists(referenced) {
				t.Errorf("sweep past the grace period: %+v, %v; want the recent orphan deleted, the referenced upload kept", res, err)
			}
		})
	}
}
