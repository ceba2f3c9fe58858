package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/gantry-dev/gantry/blob/s3/s3test"
)

// gantry serve --blob s3://... keeps uploads in a bucket of a real
// S3-compatible server (versitygw; the test skips without it, see
// s3test): a binary body goes in through POST /v1/jobs and comes back
// through GET /v1/jobs/{id}/blob, whole and in ranges.
func TestServeS3Blobs(t *testing.T) {
	t.Parallel()
	srv := s3test.StartT(t)
	bucket := srv.NewBucket(t)
	environ := map[string]string{
		"AWS_ACCESS_KEY_ID":     s3test.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": s3test.SecretAccessKey,
		"GANTRY_BLOB":           srv.URL(bucket, "gantry"),
	}
	p := startServe(t, environ, "--drain-delay", "0s")
	if line := p.logLine("gantry is serving"); !strings.HasPrefix(line["blob"].(string), "s3://"+bucket+"/gantry/?") {
		t.Errorf("the startup line says blob=%v", line["blob"])
	}

	// 9 MiB of every byte value: more than one 8 MiB part, so a
	// multipart upload and a server-side copy.
	payload := bytes.Repeat([]byte{0, 1, 2, 0xff, '\n', '\r', 0x80}, 9<<20/7)
	sum := sha256.Sum256(payload)
	j := p.upload("kind=blobby", "application/x-blobby", bytes.NewReader(payload))
	if j.Blob == nil || j.Blob.Size != int64(len(payload)) || j.Blob.ContentType != "application/x-blobby" {
		t.Fatalf("upload: %+v", j)
	}

	res, err := http.Get(p.url + "/v1/jobs/" + j.ID + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || !bytes.Equal(got, payload) {
		t.Fatalf("download: %d, %d bytes, %v", res.StatusCode, len(got), err)
	}
	if ct, etag := res.Header.Get("Content-Type"), res.Header.Get("ETag"); ct != "application/x-blobby" || etag != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Errorf("download headers: Content-Type %q, ETag %q", ct, etag)
	}

	req, _ := http.NewRequest("GET", p.url+"/v1/jobs/"+j.ID+"/blob", nil)
	req.Header.Set("Range", "bytes=8388600-8388615")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(got, payload[8388600:8388616]) {
		t.Errorf("range: %d, %q", res.StatusCode, got)
	}

	// The payload is an object under the prefix, with its digest.
	client := srv.Client(t)
	var names []string
	for obj := range client.Client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		names = append(names, obj.Key)
	}
	if len(names) != 1 || !strings.HasPrefix(names[0], "gantry/uploads/") {
		t.Fatalf("objects in the bucket: %q", names)
	}
	oi, err := client.StatObject(context.Background(), bucket, names[0], minio.StatObjectOptions{})
	if err != nil || oi.Metadata.Get("X-Amz-Meta-Sha256") != hex.EncodeToString(sum[:]) || oi.ContentType != "application/x-blobby" {
		t.Errorf("the object %s: %v, %s %v", names[0], err, oi.ContentType, oi.Metadata)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM:\n%s", code, p.output())
	}

	// A bucket that does not exist: serve fails at once, naming it; a
	// URL blob/s3 would refuse is a usage error.
	dir := t.TempDir()
	environ["GANTRY_BLOB"] = srv.URL("no-such-bucket", "")
	if _, stderr, code := cliEnv(t, environ, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir); code != exitCannotStart || !strings.Contains(stderr, `bucket "no-such-bucket"`) {
		t.Errorf("a missing bucket: exit %d, %s", code, stderr)
	}
	environ["GANTRY_BLOB"] = "s3://" + bucket + ":9000/x"
	if _, stderr, code := cliEnv(t, environ, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir); code != exitUsage || !strings.Contains(stderr, "--blob") {
		t.Errorf("a bad URL: exit %d, %s", code, stderr)
	}
}
