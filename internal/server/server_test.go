package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
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
	res, err := http.Post(base+"/v1/jobs", "application/json",
		strings.NewReader(`{"kind":"`+server.KindEcho+`","args":{"hello":"world"}}`))
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
	err = json.NewDecoder(res.Body).Decode(&j)
	res.Body.Close()
	if err != nil || j.State != "succeeded" || string(j.Result) != `{"hello":"world"}` {
		t.Errorf("echo job: %+v, %v", j, err)
	}
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
