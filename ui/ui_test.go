package ui_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/ui"
)

// TestPages checks what every page and asset answers: its status, its
// media type and the security headers, CSP first.
func TestPages(t *testing.T) {
	e := setup(t, nil)
	cases := []struct {
		path, status, ctype string
	}{
		{prefix, "200", "text/html"},
		{prefix + "index.html", "200", "text/html"},
		{prefix + "app.js", "200", "text/javascript"},
		{prefix + "style.css", "200", "text/css"},
		{prefix + "nothing.js", "404", "text/plain"},
		{prefix + "a/b", "404", "text/plain"},
		{prefix + "api/v1/queues", "200", "application/json"},
		{prefix + "api/overview", "200", "application/json"},
		{prefix + "api/nothing", "404", "application/problem+json"},
		{prefix + "api/jobs/unknown", "404", "application/problem+json"},
	}
	for _, c := range cases {
		res, body := e.do("GET", c.path, "", "")
		if got := res.Status[:3]; got != c.status {
			t.Errorf("GET %s: %s, want %s (%s)", c.path, res.Status, c.status, body)
			continue
		}
		if ct := res.Header.Get("Content-Type"); c.ctype != "" && !strings.HasPrefix(ct, c.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.path, ct, c.ctype)
		}
		if csp := res.Header.Get("Content-Security-Policy"); csp != ui.ContentSecurityPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if got := res.Header.Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", c.path, k, got, v)
			}
		}
	}
}

// TestCSPIsStrict checks the policy: nothing inline, nothing from another
// origin.
func TestCSPIsStrict(t *testing.T) {
	t.Parallel()
	csp := ui.ContentSecurityPolicy
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("the policy allows %q: %s", bad, csp)
		}
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the policy lacks %q: %s", want, csp)
		}
	}
}

// TestAssetsHaveNoInlineCode reads the embedded files: no inline script,
// style attribute or event handler attribute, which the policy would
// block, and no absolute or outside URL, which would break the page under
// a path prefix or load something from elsewhere.
func TestAssetsHaveNoInlineCode(t *testing.T) {
	t.Parallel()
	rules := []struct {
		re   *regexp.Regexp
		what string
	}{
		{regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), "an inline script"},
		{regexp.MustCompile(`\sstyle\s*=`), "a style attribute"},
		{regexp.MustCompile(`<style`), "a style element"},
		{regexp.MustCompile(`\son[a-z]+\s*=`), "an event handler attribute"},
		{regexp.MustCompile(`(?:src|href)\s*=\s*"/`), "an absolute path"},
		{regexp.MustCompile(`(?:src|href)\s*=\s*"(?:https?:)?//`), "an outside URL"},
		{regexp.MustCompile(`fetch\(\s*['"]/`), "an absolute fetch"},
		{regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`), "HTML or code from strings"},
		{regexp.MustCompile(`setAttribute\(\s*['"]style`), "a style attribute set by script"},
	}
	err := filepath.WalkDir("assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, r := range rules {
			if loc := r.re.FindIndex(b); loc != nil {
				t.Errorf("%s has %s: %q", p, r.what, b[loc[0]:min(loc[1]+20, len(b))])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuth checks the scopes through the dashboard's paths: the page
// itself needs no token (it holds no data), its JSON needs read, and its
// actions the API's own scopes.
func TestAuth(t *testing.T) {
	e := setup(t, &options{tokens: true})
	id := e.enqueue(1)
	cases := []struct {
		method, path, token, body string
		status                    int
	}{
		{"GET", prefix, "", "", 200},
		{"GET", prefix + "app.js", "", "", 200},
		{"GET", prefix + "api/v1/queues", "", "", 401},
		{"GET", prefix + "api/v1/queues", "wrong", "", 401},
		{"GET", prefix + "api/v1/queues", readToken, "", 200},
		{"GET", prefix + "api/v1/queues", workToken, "", 403},
		{"GET", prefix + "api/v1/jobs?state=available", readToken, "", 200},
		{"GET", prefix + "api/overview", "", "", 401},
		{"GET", prefix + "api/overview", workToken, "", 403},
		{"GET", prefix + "api/overview", readToken, "", 200},
		{"GET", prefix + "api/jobs/" + id, "", "", 401},
		{"GET", prefix + "api/jobs/" + id, workToken, "", 403},
		{"GET", prefix + "api/jobs/" + id, readToken, "", 200},
		{"POST", prefix + "api/v1/queues/default/pause", readToken, "", 403},
		{"POST", prefix + "api/v1/queues/default/pause", adminToken, "", 200},
		{"POST", prefix + "api/v1/queues/default/resume", enqueueToken, "", 403},
		{"POST", prefix + "api/v1/queues/default/resume", adminToken, "", 200},
		{"POST", prefix + "api/v1/jobs", readToken, `{"kind":"demo"}`, 403},
		{"POST", prefix + "api/v1/jobs", enqueueToken, `{"kind":"demo"}`, 202},
		{"POST", prefix + "api/v1/jobs/" + id + "/cancel", enqueueToken, "", 403},
		{"POST", prefix + "api/v1/jobs/" + id + "/cancel", adminToken, "", 200},
		{"POST", prefix + "api/v1/jobs/" + id + "/retry", readToken, "", 403},
		{"POST", prefix + "api/v1/jobs/" + id + "/retry", adminToken, "", 200},
	}
	for _, c := range cases {
		res, body := e.do(c.method, c.path, c.token, c.body)
		if res.StatusCode != c.status {
			t.Errorf("%s %s with %q: %s, want %d: %s", c.method, c.path, c.token, res.Status, c.status, body)
		}
	}
}

// TestCrossOrigin checks that a request from another site that would
// change state is refused, on the dashboard's paths and on the API's.
func TestCrossOrigin(t *testing.T) {
	e := setup(t, nil)
	id := e.enqueue(1)
	for _, p := range []string{prefix + "api/v1/jobs/" + id + "/cancel", "/v1/jobs/" + id + "/cancel", prefix + "api/v1/queues/default/pause"} {
		res, body := e.do("POST", p, "", "", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %s, want 403: %s", p, res.Status, body)
		}
	}
	res, _ := e.do("POST", prefix+"api/v1/queues/default/pause", "", "", "Sec-Fetch-Site", "same-origin")
	if res.StatusCode != http.StatusOK {
		t.Errorf("same-origin pause: %s, want 200", res.Status)
	}
	j, err := e.client.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != gantry.StateAvailable {
		t.Errorf("job is %s after refused cancels, want available", j.State)
	}
}

// TestJob checks the dashboard's job answer: the job resource, the
// checkpoint a heartbeat saved and the failed attempts.
func TestJob(t *testing.T) {
	e := setup(t, nil)
	id := e.enqueue(7)
	ctx := context.Background()
	j := e.lease()
	if _, err := e.client.Workers().Heartbeat(ctx, &gantry.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken,
		Progress: &gantry.Progress{Percent: 40, Message: "resizing"}, Checkpoint: json.RawMessage(`{"done":4}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Workers().Fail(ctx, &gantry.FailParams{ID: j.ID, LeaseToken: j.LeaseToken, Error: "disk on fire"}); err != nil {
		t.Fatal(err)
	}
	res, body := e.do("GET", prefix+"api/jobs/"+id, "", "")
	if res.StatusCode != 200 {
		t.Fatalf("GET job: %s: %s", res.Status, body)
	}
	got := decode[ui.Job](t, body)
	if got.ID != id || got.Kind != "demo" || string(got.Args) != `{"n":7}` {
		t.Errorf("job %s kind %s args %s", got.ID, got.Kind, got.Args)
	}
	if string(got.Checkpoint) != `{"done":4}` {
		t.Errorf("checkpoint %s, want {\"done\":4}", got.Checkpoint)
	}
	if len(got.Attempts) != 1 || got.Attempts[0].Message != "disk on fire" || got.Attempts[0].Attempt != 1 {
		t.Errorf("attempts %+v, want one: disk on fire", got.Attempts)
	}
	if got.Progress == nil || got.Progress.Percent != 40 {
		t.Errorf("progress %+v, want 40", got.Progress)
	}
	// A job never checkpointed shows null, not an absent field.
	res, body = e.do("GET", prefix+"api/jobs/"+e.enqueue(8), "", "")
	if res.StatusCode != 200 || !strings.Contains(string(body), `"checkpoint":null`) || !strings.Contains(string(body), `"attempts":[]`) {
		t.Errorf("new job: %s: %s", res.Status, body)
	}
	res, body = e.do("GET", prefix+"api/jobs/"+strings.Repeat("x", 300), "", "")
	if res.StatusCode != 404 {
		t.Errorf("long id: %s: %s", res.Status, body)
	}
}

// TestStreamsCountAgainstLimit checks that a job's live stream, opened
// through the dashboard's path, counts against the API's MaxStreams.
func TestStreamsCountAgainstLimit(t *testing.T) {
	e := setup(t, &options{maxStreams: 1})
	id := e.enqueue(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", e.url+prefix+"api/v1/jobs/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("first stream: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	if n := e.api.Streams(); n != 1 {
		t.Errorf("Streams() = %d with one stream open, want 1", n)
	}
	res2, body := e.do("GET", prefix+"api/v1/jobs/"+id+"/events", "", "")
	if res2.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "server_busy") {
		t.Errorf("second stream: %s %s, want 503 server_busy", res2.Status, body)
	}
	cancel()
	res.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for e.api.Streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream was not released after the client went away")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNew checks that New refuses a config without what it needs.
func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := ui.New(nil); err == nil || !strings.HasPrefix(err.Error(), "gantry: ") {
		t.Errorf("New(nil) = %v, want a gantry: error", err)
	}
	if _, err := ui.New(&ui.Config{}); err == nil {
		t.Error("New without API succeeded")
	}
}

// TestOverview checks the overview: the queues and nodes as the API shows
// them, read once for every request within ui.OverviewMaxAge.
func TestOverview(t *testing.T) {
	e := setup(t, nil)
	e.enqueue(1)
	e.enqueue(2)
	now := time.Now().UTC()
	if err := e.store.BeatNode(context.Background(), &store.Node{ID: "n1", StartedAt: now, HeartbeatAt: now, Workers: 4}); err != nil {
		t.Fatal(err)
	}
	res, body := e.do("GET", prefix+"api/overview", "", "")
	if res.StatusCode != 200 {
		t.Fatalf("overview: %s: %s", res.Status, body)
	}
	first := decode[ui.Overview](t, body)
	if len(first.Queues) != 1 || first.Queues[0].Name != "default" || first.Queues[0].Counts[gantry.StateAvailable] != 2 {
		t.Errorf("queues %+v, want default with 2 available", first.Queues)
	}
	if len(first.Nodes) != 1 || first.Nodes[0].ID != "n1" || first.Nodes[0].Workers != 4 {
		t.Errorf("nodes %+v, want n1", first.Nodes)
	}
	if time.Since(first.ReadAt) > time.Minute {
		t.Errorf("read_at %v", first.ReadAt)
	}
	// A second request at once gets the same reading, or one begun after
	// the first was more than OverviewMaxAge old.
	_, body = e.do("GET", prefix+"api/overview", "", "")
	second := decode[ui.Overview](t, body)
	if !second.ReadAt.Equal(first.ReadAt) && second.ReadAt.Sub(first.ReadAt) < ui.OverviewMaxAge {
		t.Errorf("a second reading %v after the first, within OverviewMaxAge", second.ReadAt.Sub(first.ReadAt))
	}
}
