package server_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/store/embedded"
)

// holdEnv names a data dir whose store the test binary, run again as a
// helper process, holds open until its standard input closes.
const holdEnv = "GANTRY_TEST_HOLD_DATA_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdEnv); dir != "" {
		holdDataDir(dir)
		return
	}
	goleak.VerifyTestMain(m)
}

// holdDataDir opens the embedded store of a data dir as gantry serve
// does, says "locked", and closes it when standard input ends.
func holdDataDir(dir string) {
	st, err := embedded.Open(filepath.Join(dir, "jobs"), nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := st.Close(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
