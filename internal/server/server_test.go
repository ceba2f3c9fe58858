package server_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/store/embedded"
)

// setup returns the settings of a server on a loopback port with its data
// in a temporary directory.
func setup(t *testing.T) *config.Serve {
	t.Helper()
	cfg := config.DefaultServe()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.DrainDelay = 0
	return cfg
}

// A server opened in-process runs the demo kinds over its HTTP API and
// Run returns nil once its context ends.
func TestRunDemoKinds(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	base := run(t, cfg)
	j, err := enqueueAndWait(t, base, `{"kind":"`+server.KindEcho+`","args":{"hello":"world"}}`)
	if err != nil || j.State != "succeeded" || string(j.Result) != `{"hello":"world"}` {
		t.Errorf("echo job: %+v, %v", j, err)
	}
}

// enqueueAndWait enqueues the job of body over base's HTTP API and
// long-polls it until it is final.
func enqueueAndWait(t *testing.T, base, body string) (*httpapi.JobResource, error) {
	t.Helper()
	res, err := http.Post(base+"/v1/jobs", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var j httpapi.JobResource
	err = json.NewDecoder(res.Body).Decode(&j)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("enqueue: %s, %v", res.Status, err)
	}
	// The long-poll ends when the job is final.
	res, err = http.Get(base + "/v1/jobs/" + j.ID + "?wait=20s")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return &j, json.NewDecoder(res.Body).Decode(&j)
}

// Close releases what Open opened: the same data dir opens again.
func TestOpenClose(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	for range 2 {
		s, err := server.Open(t.Context(), cfg, &server.Options{Logger: server.NewLogger(t.Output(), "text", 0)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A --store that names no store is a usage error, and Open leaves
// nothing open behind it.
func TestOpenBadStore(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Store = "mysql://db"
	_, err := server.Open(t.Context(), cfg, nil)
	var ue *config.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--store") {
		t.Errorf("Open: %v, want a usage error naming --store", err)
	}
}

// A data dir whose store another process has open: Open fails without a
// panic, saying so with the process's pid, as ErrCannotStart and not as a
// usage error; once the other process is gone, the same settings open.
func TestOpenDataDirInUse(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), holdEnv+"="+cfg.DataDir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = holder.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("the helper process: %q, %v", line, err)
	}

	_, err = server.Open(t.Context(), cfg, nil)
	var ue *config.UsageError
	var locked *embedded.LockedError
	switch {
	case err == nil:
		t.Fatal("Open succeeded on a data dir in use")
	case !errors.Is(err, server.ErrCannotStart) || !errors.Is(err, embedded.ErrLocked) || errors.As(err, &ue):
		t.Errorf("Open: %v, want ErrCannotStart and embedded.ErrLocked, not a usage error", err)
	case !errors.As(err, &locked) || locked.PID != holder.Process.Pid:
		t.Errorf("Open: %v, want the pid %d of the process holding the lock", err, holder.Process.Pid)
	}
	for _, want := range []string{"the data dir " + cfg.DataDir + " is in use by another process (pid " + strconv.Itoa(holder.Process.Pid) + ")", "--data-dir"} {
		if err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}

	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("the helper process: %v", err)
	}
	s, err := server.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatalf("Open after the other process left: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
