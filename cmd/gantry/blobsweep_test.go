package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	blobfs "github.com/gantry-dev/gantry/blob/fs"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
)

// TestServeKilledMidUploadLeavesNoOrphan: a `gantry serve` killed with
// SIGKILL in the middle of an upload leaves its temporary file behind, and
// a crash between storing an upload and committing its job leaves an
// upload no job refers to (planted here while the server is down). After
// a restart and one blob sweep, neither is left, and the payload of a job
// enqueued before the crash is intact. While the server runs, its blob
// directory is locked against other processes.
func TestServeKilledMidUploadLeavesNoOrphan(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	blobDir := filepath.Join(dataDir, "blobs")
	args := []string{"--data-dir", dataDir, "--blob-sweep-grace", "1ms", "--demo=false"}
	p := startServe(t, nil, args...)

	if _, err := blobfs.Open(blobDir); !errors.Is(err, blobfs.ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Errorf("opening the blob dir of a running server: %v, want ErrLocked naming its pid", err)
	}

	kept := bytes.Repeat([]byte("kept "), 1000)
	job := p.upload("kind=blobby", "application/octet-stream", bytes.NewReader(kept))

	// An upload that is still streaming when the server is killed.
	pr, pw := io.Pipe()
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		res, err := http.Post(p.url+"/v1/jobs?kind=blobby", "application/octet-stream", pr)
		if err == nil {
			res.Body.Close()
		}
	}()
	chunk := bytes.Repeat([]byte{0xa5}, 1<<20)
	for range 32 {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	tmpDir := filepath.Join(blobDir, "tmp")
	parts := func() (n int, size int64) {
		entries, _ := os.ReadDir(tmpDir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".part") {
				n, size = n+1, size+info.Size()
			}
		}
		return n, size
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, size := parts(); size >= 16<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload did not reach the blob store's temporary file:\n%s", p.output())
		}
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(10 * time.Second)
	pw.CloseWithError(errors.New("server killed"))
	<-posted
	if n, size := parts(); n != 1 || size < 16<<20 {
		t.Fatalf("after kill -9: %d temporary files of %d bytes, want the upload's", n, size)
	}

	// A crash after the payload was stored, before its job committed.
	orphan := httpapi.UploadKeyPrefix + store.NewID()
	bs, err := blobfs.Open(blobDir) // the dead server's lock is gone
	if err != nil {
		t.Fatalf("opening the blob dir after the server died: %v", err)
	}
	if _, err := bs.Put(t.Context(), orphan, strings.NewReader("orphan"), "", 0); err != nil {
		t.Fatal(err)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // older than --blob-sweep-grace

	p = startServe(t, nil, args...)
	for deadline := time.Now().Add(20 * time.Second); p.logLine("deleted uploads that no job refers to") == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no blob sweep deleted the orphan:\n%s", p.output())
		}
	}
	if line := p.logLine("deleted uploads that no job refers to"); line["deleted"] != float64(1) {
		t.Errorf("the sweep: %v, want 1 deleted", line)
	}
	if n, _ := parts(); n != 0 {
		t.Errorf("%d temporary files left after the restart", n)
	}
	res, err := http.Get(p.url + "/v1/jobs/" + job.ID + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Equal(got, kept) {
		t.Errorf("the payload of the job enqueued before the crash: %d, %d bytes", res.StatusCode, len(got))
	}
	metas, _ := filepath.Glob(filepath.Join(blobDir, "*", "*", "*.meta"))
	if len(metas) != 1 {
		t.Errorf("%d payloads in the blob dir, want only the job's: %v", len(metas), metas)
	}
}

// upload enqueues a job with body as its payload and returns the answer's
// job; anything but 202 fails the test.
func (p *proc) upload(query, contentType string, body io.Reader) jobJSON {
	p.t.Helper()
	res, err := http.Post(p.url+"/v1/jobs?"+query, contentType, body)
	if err != nil {
		p.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		p.t.Fatalf("upload: %d %s", res.StatusCode, b)
	}
	return decode[jobJSON](p.t, string(b))
}
