package fs_test

import (
	"context"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/blob/fs"
)

// FuzzValidateKey checks that every key blob.ValidateKey accepts is a clean,
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
		if err := blob.ValidateKey(key); err != nil {
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
