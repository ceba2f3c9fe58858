package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

// The Grafana dashboard, the alert rules and docs/observability.md name
// only series that the server exports. The server first does some work
// (a job enqueued, run and finished; a problem answered) so that the
// histograms and counters with labels have series to show.
func TestObservabilityDocsNameRealMetrics(t *testing.T) {
	t.Parallel()
	// The default queue has limits (a rate and a key), and more jobs than
	// its rate lets start at once, so that the limit series have values.
	cfg := setup(t)
	cfg.Queues = map[string]config.Queue{"default": {Rate: "2/s", Key: "args.k"}}
	base := run(t, cfg)
	res, err := http.Post(base+"/v1/jobs", "application/json", strings.NewReader(`{"kind":"`+server.KindEcho+`","args":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	loc := res.Header.Get("Location")
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("enqueue: %s", res.Status)
	}
	if res, err = http.Get(base + loc + "?wait=20s"); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res, err = http.Get(base + "/v1/jobs/not-a-job"); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	for range 4 {
		res, err := http.Post(base+"/v1/jobs", "application/json", strings.NewReader(`{"kind":"`+server.KindEcho+`","args":{"k":"a"}}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	// The limit gauges come from the store's LimitStats: a store without
	// it (found on a store of the same kind) exports none of them.
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, limitStats := store.As[store.LimitStatsStore](st)
	st.Close()
	limitGauges := []string{"gantry_limit_held_jobs", "gantry_limit_tokens", "gantry_limit_keys", "gantry_limit_key_held_jobs", "gantry_limit_key_running"}

	// The job's final state is visible (the long-poll ends) a moment
	// before the attempt's end is counted: scrape until it is.
	var exported map[string]bool
	for deadline := time.Now().Add(20 * time.Second); ; {
		exported = scrapeNames(t, base)
		if exported["gantry_job_end_to_end_seconds"] && exported["gantry_jobs_finished_total"] &&
			exported["gantry_limit_delays_total"] && (!limitStats || exported["gantry_limit_key_running"]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scrape lacks the series this test relies on: %v", exported)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Both files parse: the rules as Prometheus rule groups, each with an
	// alert name and an expression; the dashboard as JSON with panels.
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if b, err := os.ReadFile(filepath.Join("..", "..", "docs", "alerts.yaml")); err != nil {
		t.Fatal(err)
	} else if err := yaml.Unmarshal(b, &rules); err != nil || len(rules.Groups) == 0 {
		t.Fatalf("docs/alerts.yaml: %v, %d groups", err, len(rules.Groups))
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("docs/alerts.yaml: a rule of group %s lacks alert or expr: %+v", g.Name, r)
			}
		}
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if b, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json")); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("docs/grafana-dashboard.json: %v, %d panels", err, len(dash.Panels))
	}

	name := regexp.MustCompile(`\bgantry_[a-z0-9_]*[a-z0-9]`)
	if !limitStats {
		t.Logf("the embedded store has no LimitStats: %v are not checked", limitGauges)
		for _, n := range limitGauges {
			exported[n] = true
		}
	}
	for _, doc := range []string{"grafana-dashboard.json", "alerts.yaml", "observability.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", doc))
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, n := range name.FindAllString(string(b), -1) {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && exported[b] {
					base = b
				}
			}
			if !exported[base] {
				t.Errorf("docs/%s names %s, which the server does not export", doc, n)
			}
			found++
		}
		if found == 0 {
			t.Errorf("docs/%s names no gantry_* series", doc)
		}
	}
}

// scrapeNames returns the names of the series families GET /metrics shows.
func scrapeNames(t *testing.T, base string) map[string]bool {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}
