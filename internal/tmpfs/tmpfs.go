// Package tmpfs mounts small filesystems for tests that need a disk that
// fills up: a tmpfs of a given size, mounted in a temporary directory and
// unmounted when the test ends.
//
// Mounting needs privileges (root, or CAP_SYS_ADMIN). Where it is not
// allowed, Mount skips the test with a message saying so, unless the
// environment variable GANTRY_REQUIRE_MOUNT is 1 (.ci/run sets it), in which
// case it fails the test.
package tmpfs

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// RequireEnv is the variable that makes Mount fail instead of skip.
const RequireEnv = "GANTRY_REQUIRE_MOUNT"

// Mount mounts a tmpfs of size bytes in a new temporary directory and
// returns the directory. The filesystem is unmounted when the test ends.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if runtime.GOOS != "linux" {
		unavailable(t, "tmpfs mounts need Linux")
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		unavailable(t, fmt.Sprintf("mount -t tmpfs: %v: %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s, and %s=1 requires it", why, RequireEnv)
	}
	t.Skipf("skipped: this test needs a small filesystem to fill: %s (run as root to mount one; %s=1 makes it required)", why, RequireEnv)
}

// Fill writes a file of at most size bytes in dir, stopping early when
// the disk is full, and returns its path: removing it frees the space.
func Fill(t testing.TB, dir string, size int64) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "ballast-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	return f.Name()
}
