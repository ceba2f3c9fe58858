package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/push"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/ui"
)

// gantry serve pushes the jobs of a configured kind to its target, signed
// with the secret its variable holds, and exports the push series.
func TestServePushesToATarget(t *testing.T) {
	t.Setenv("TEST_PUSH_SECRET", "s3cret")
	ok := make(chan bool, 1)
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ok <- push.Verify(r.Header.Get(push.SignatureHeader), "s3cret", b, time.Now(), 5*time.Minute)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"pushed":true}`)
	}))
	defer tg.Close()
	cfg := setup(t)
	cfg.Push = map[string]config.PushTarget{"thumbnail": {URL: tg.URL, SecretEnv: "TEST_PUSH_SECRET"}}
	base := run(t, cfg)
	j, err := enqueueAndWait(t, base, `{"kind":"thumbnail","args":{"w":1}}`)
	if err != nil || j.State != "succeeded" || string(j.Result) != `{"pushed":true}` {
		t.Fatalf("pushed job: %+v, %v", j, err)
	}
	if !<-ok {
		t.Error("the target could not verify the signature")
	}
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`gantry_push_requests_total{outcome="succeeded",target="thumbnail"} 1`, `gantry_push_concurrency_limit{target="thumbnail"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	// The dashboard's push page reads the target and its push.
	got := pushTargets(t, base)
	if len(got) != 1 || got[0].Name != "thumbnail" || got[0].Queue != "default" || got[0].URL != tg.URL ||
		got[0].Min != push.DefaultMinConcurrency || got[0].Max != push.DefaultMaxConcurrency || got[0].Limit < 1 ||
		got[0].Requests != 1 || got[0].Overloads != 0 || got[0].LatencySeconds <= 0 {
		t.Errorf("GET /ui/api/push: %+v", got)
	}
}

// pushTargets reads the dashboard's GET api/push.
func pushTargets(t *testing.T, base string) []ui.PushTarget {
	t.Helper()
	res, err := http.Get(base + server.UIPath + "api/push")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out ui.PushTargets
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/api/push: %s, %v", res.Status, err)
	}
	return out.Targets
}

// Without push targets the dashboard's push page has none to show.
func TestServeWithoutPushTargets(t *testing.T) {
	t.Parallel()
	if got := pushTargets(t, run(t, setup(t))); len(got) != 0 {
		t.Errorf("GET /ui/api/push: %+v, want no targets", got)
	}
}
