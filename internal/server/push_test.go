package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/push"
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
}
