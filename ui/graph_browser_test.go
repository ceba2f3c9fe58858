package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/ui"
)

// finish completes the leased job j.
func (e *env) finish(j *gantry.Job) {
	e.t.Helper()
	if _, err := e.client.Workers().Complete(context.Background(), &gantry.CompleteParams{ID: j.ID, LeaseToken: j.LeaseToken}); err != nil {
		e.t.Fatal(err)
	}
}

// TestBrowserWorkflow drives a job page in headless Chromium: the job's
// workflow is drawn with a node per job and an edge per dependency and
// child, in layers by depth, the job itself highlighted; a node's state
// follows its job; a click on a node opens its job; a workflow over
// MaxGraphJobs shows its counts; a server without push targets says so.
func TestBrowserWorkflow(t *testing.T) {
	e := setup(t, nil)
	b := newBrowser(t)
	wf := e.diamond()
	id := func(ref string) string { return wf.Jobs[ref].ID }
	page := e.url + prefix

	b.do("open job d", chromedp.Navigate(page+"#/jobs/"+id("d")))
	b.waitFor("the graph", `document.querySelectorAll('#workflow-graph .wf-node').length === 5`)
	if n := eval[int](b, `document.querySelectorAll('#workflow-graph .wf-edge').length`); n != 5 {
		t.Errorf("%d edges, want 5 (a→b, a→c, b→d, c→d, e→b)", n)
	}
	if got := eval[string](b, `document.querySelector('#workflow-graph .wf-node.current')?.dataset.job`); got != id("d") {
		t.Errorf("the highlighted node is %q, want job d %s", got, id("d"))
	}
	// Layers by the longest path from a root: a and e, then b and c, then d.
	x := eval[map[string]float64](b, `Object.fromEntries([...document.querySelectorAll('#workflow-graph .wf-node')].map((n) => [n.dataset.job, n.transform.baseVal[0].matrix.e]))`)
	if !(x[id("a")] == x[id("e")] && x[id("a")] < x[id("b")] && x[id("b")] == x[id("c")] && x[id("c")] < x[id("d")]) {
		t.Errorf("layers by x: a %v e %v b %v c %v d %v", x[id("a")], x[id("e")], x[id("b")], x[id("c")], x[id("d")])
	}
	node := func(ref string) string {
		return fmt.Sprintf(`document.querySelector('#workflow-graph [data-job="%s"]')`, id(ref))
	}
	b.waitFor("a available", node("a")+`.classList.contains('state-available')`)
	b.waitFor("d waiting", node("d")+`.classList.contains('state-waiting')`)

	// a and e finish, b starts: their nodes follow while the page polls.
	ctx := context.Background()
	leased, err := e.client.Workers().Lease(ctx, &gantry.LeaseParams{Max: 2, LeaseFor: time.Minute})
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease a and e: %d, %v", len(leased), err)
	}
	for _, j := range leased {
		e.finish(j)
	}
	b.waitFor("a succeeded", node("a")+`.classList.contains('state-succeeded') && !`+node("a")+`.classList.contains('state-available')`)
	b.waitFor("e succeeded", node("e")+`.dataset.state === 'succeeded'`)
	running, err := e.client.Workers().Lease(ctx, &gantry.LeaseParams{Max: 1, LeaseFor: time.Minute})
	if err != nil || len(running) != 1 {
		t.Fatalf("lease b or c: %d, %v", len(running), err)
	}
	ref := "b"
	if running[0].ID == id("c") {
		ref = "c"
	}
	b.waitFor(ref+" running", node(ref)+`.dataset.state === 'running'`)
	b.do("scroll to the graph", chromedp.Evaluate[chromedp.Void](`document.getElementById('workflow').scrollIntoView()`))
	b.screenshot("dashboard-workflow")

	// A click on a node opens its job, highlighted in the same graph.
	b.do("click "+ref, chromedp.Click(chromedp.CSS(`#workflow-graph [data-job="`+id(ref)+`"] rect`)))
	b.waitFor(ref+"'s page", fmt.Sprintf(`location.hash === '#/jobs/%s' && document.querySelector('#workflow-graph .wf-node.current')?.dataset.job === '%s' && document.querySelectorAll('#workflow-graph .wf-node').length === 5`, id(ref), id(ref)))

	// Over the cap: the counts and a note, no graph.
	big := e.wide(ui.MaxGraphJobs + 1)
	b.do("open a job of a large workflow", chromedp.Navigate(page+"#/jobs/"+big.Jobs["s0"].ID))
	b.waitFor("the note", `document.getElementById('workflow-truncated') !== null && document.querySelector('#workflow-counts [data-count="available"]')?.textContent === '501 available'`)
	if n := eval[int](b, `document.querySelectorAll('.wf-node').length`); n != 0 {
		t.Errorf("%d nodes drawn for a workflow over the cap", n)
	}

	b.do("open the push page", chromedp.Navigate(page+"#/push"))
	b.waitFor("no push targets", `document.getElementById('push-empty')?.textContent === 'No push targets configured.'`)
	b.checkNoErrors()
}

// TestBrowserPush runs gantry serve in-process with a push target on
// loopback, pushes jobs to it and checks the push page in headless
// Chromium: the target's limit as the server reports it, its pushes, a
// latency and sparklines that take samples as the page polls.
func TestBrowserPush(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	// The downstream takes 15 ms a push and answers two of them 429, to
	// be pushed again a second later: overload signals.
	var pushes atomic.Int64
	const overloads = 2
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(15 * time.Millisecond)
		if n := pushes.Add(1); n > 10 && n <= 10+overloads {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(down.Close)
	cfg := config.DefaultServe()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.DrainDelay = 0
	cfg.Push = map[string]config.PushTarget{"thumbnail": {URL: down.URL + "/push?key=hidden", Concurrency: config.PushConcurrency{Min: 2, Max: 8}}}
	s, err := server.Open(t.Context(), cfg, &server.Options{Logger: server.NewLogger(t.Output(), "text", 0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	base := "http://" + s.Addr().String()

	b.do("open the push page", chromedp.Navigate(base+server.UIPath+"#/push"))
	target := `document.querySelector('[data-target="thumbnail"]')`
	b.waitFor("the target", target+`?.textContent.includes('0 pushes')`)
	// Waves of jobs while the page polls: its charts take samples.
	const waves, wave = 4, 12
	const jobs = waves * wave
	for i := range jobs {
		if i > 0 && i%wave == 0 {
			time.Sleep(time.Second)
		}
		res, err := http.Post(base+"/v1/jobs", "application/json", strings.NewReader(`{"kind":"thumbnail","args":{"n":`+strconv.Itoa(i)+`}}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("enqueue: %s", res.Status)
		}
	}
	b.waitFor("every push", target+`?.textContent.includes('`+strconv.Itoa(jobs+overloads)+` pushes, `+strconv.Itoa(overloads)+` overloads')`)
	b.waitFor("samples", `Number(`+target+`?.querySelector('[data-metric="limit"] svg')?.dataset.samples) >= 4`)
	b.screenshot("dashboard-push")

	// Idle, the limit holds still: the page shows the server's.
	res, err := http.Get(base + server.UIPath + "api/push")
	if err != nil {
		t.Fatal(err)
	}
	var got ui.PushTargets
	err = json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if err != nil || len(got.Targets) != 1 {
		t.Fatalf("api/push: %+v, %v", got, err)
	}
	tg := got.Targets[0]
	if tg.Requests != jobs+overloads || tg.Overloads != overloads || tg.Limit < 2 || tg.Limit > 8 || tg.LatencySeconds < jobs*0.015 || tg.URL != down.URL+"/push" {
		t.Errorf("api/push: %+v", tg)
	}
	b.waitFor("the limit", fmt.Sprintf(`%s.querySelector('[data-metric="limit"] [data-value]').textContent === '%d'`, target, tg.Limit))
	if lat := eval[string](b, target+`.querySelector('[data-metric="latency"] [data-value]').textContent`); !strings.HasSuffix(lat, " ms") {
		t.Errorf("latency shows %q, want a figure in ms", lat)
	}
	if text := eval[string](b, target+`.textContent`); strings.Contains(text, "hidden") {
		t.Errorf("the page shows the target URL's query: %s", text)
	}
	b.checkNoErrors()
}
