package fs_test

import (
	"context"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/blob/fs"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	good := []string{"a", "jobs/0192f3c1-7c4e-7d2a-9f1e-3b1b2c9e8a10/payload", "a.b/c..d/...", "ünïcødé/ok", ".hidden", "a b"}
	for _, k := range good {
		if err := fs.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q): %v", k, err)
		}
	}
}

// FuzzValidateKey checks that every key ValidateKey accepts is a clean,
// relative path that stays inside a directory, and that the store refuses
// every key ValidateKey refuses. (TestRoundTrip and TestBadKeys cover the
// file operations; doing them here would make each input cost an fsync.)
func FuzzValidateKey(f *testing.F) {
	for _, seed := range []string{"a", "a/b", "../x", "/abs", "a\x00b", "a/./b", "a\\b", "..", "a//b", "ü/ü"} {
		f.Add(seed)
	}
	s, err := fs.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		if err := fs.ValidateKey(key); err != nil {
			if _, perr := s.Put(ctx, key, strings.NewReader("x"), "", 0); perr == nil {
				t.Fatalf("Put accepted %q, which ValidateKey refuses: %v", key, err)
			}
			return
		}
		switch {
		case strings.ContainsRune(key, 0):
			t.Fatalf("accepted a NUL: %q", key)
		case path.IsAbs(key), filepath.IsAbs(key):
			t.Fatalf("accepted an absolute path: %q", key)
		case path.Clean(key) != key:
			t.Fatalf("accepted an unclean path: %q", key)
		case runtime.GOOS != "windows" && !filepath.IsLocal(key):
			t.Fatalf("accepted a non-local path: %q", key)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == ".." {
				t.Fatalf("accepted a .. segment: %q", key)
			}
		}
	})
}
