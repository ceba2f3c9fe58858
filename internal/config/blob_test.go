package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
)

// --blob is fs by default, or an s3:// URL from a flag, GANTRY_BLOB or the
// file key "blob"; a URL blob/s3 would refuse is a usage error at once.
func TestBlob(t *testing.T) {
	t.Parallel()
	const url = "s3://bucket/gantry/blobs?endpoint=http://127.0.0.1:7070&path_style=true"
	file := writeFile(t, `{"blob": "s3://from-file/p"}`)
	for _, tc := range []struct {
		name string
		args []string
		env  func(string) string
		want string
		kind string
	}{
		{"default", nil, env(), "fs", "fs"},
		{"flag", []string{"--blob", url}, env(), url, "s3"},
		{"env", nil, env("GANTRY_BLOB", url), url, "s3"},
		{"file", []string{"--config", file}, env(), "s3://from-file/p", "s3"},
		{"env over file", []string{"--config", file}, env("GANTRY_BLOB", "fs"), "fs", "fs"},
	} {
		s, err := config.LoadServe(tc.args, tc.env)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		kind, err := s.BlobKind()
		if s.Blob != tc.want || kind != tc.kind || err != nil {
			t.Errorf("%s: blob %q, kind %q, %v; want %q, %q", tc.name, s.Blob, kind, err, tc.want, tc.kind)
		}
	}

	for _, tc := range []struct{ blob, want string }{
		{"", "want fs or an s3://bucket/prefix URL"},
		{"gs://bucket", "want fs or an s3://bucket/prefix URL"},
		{"/var/blobs", "want fs or an s3://bucket/prefix URL"},
		{"s3://bucket/p?pathstyle=true", `unknown parameter "pathstyle"`},
		{"s3://bucket:9000/p", "takes no port"},
		{"s3://key:hunter2@bucket/p", "must not hold credentials"},
	} {
		_, err := config.LoadServe([]string{"--blob", tc.blob}, env())
		var ue *config.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--blob") {
			t.Errorf("--blob %q: %v, want a usage error naming --blob and saying %q", tc.blob, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("--blob %q: the error shows the secret: %v", tc.blob, err)
		}
	}
}
