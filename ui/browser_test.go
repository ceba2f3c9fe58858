package ui_test

import (
	"context"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/store"
)

// Environment variables of the browser tests.
const (
	// envChromium names the browser binary. Default: chromium (Debian's
	// package), chromium-browser or google-chrome on PATH.
	envChromium = "GANTRY_TEST_CHROMIUM"
	// envRequireBrowser set to 1 turns a skip for want of a browser into a
	// failure (.ci/run sets it).
	envRequireBrowser = "GANTRY_REQUIRE_BROWSER"
	// envScreenshots names a directory for the screenshots the tests take
	// (make screenshots writes docs/img). Default: a temporary directory.
	envScreenshots = "GANTRY_TEST_SCREENSHOTS"
)

// chromium returns the browser to run, or skips the test (fails it with
// GANTRY_REQUIRE_BROWSER=1) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no browser: install Debian's chromium (apt-get install -y chromium) or set " + envChromium + " to run the dashboard's browser tests"
	if os.Getenv(envRequireBrowser) == "1" {
		t.Fatal(msg + " (" + envRequireBrowser + "=1 requires them)")
	}
	t.Skip(msg)
	return ""
}

// browser is a headless Chromium with a fresh profile, and what its page
// wrote to the console as errors.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromium(t)
	profile, err := os.MkdirTemp("", "gantry-chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		// The browser's helpers can write in the profile for a moment after
		// it stops.
		for range 50 {
			if err := os.RemoveAll(profile); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// The first Run starts the browser; it gets no timeout (that would stop
	// the browser with it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	b.ctx = ctx
	return b
}

// listen records the page's errors: console.error calls, uncaught
// exceptions and browser log entries at the error level (a CSP violation
// is one) other than the network's, which report the answers of refused
// requests that the tests make on purpose.
func (b *browser) listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			msg = "console.error: " + strings.Join(parts, " ")
		}
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
			msg = fmt.Sprintf("log %s: %s", e.Entry.Source, e.Entry.Text)
		}
	}
	if msg != "" {
		b.mu.Lock()
		b.errors = append(b.errors, msg)
		b.mu.Unlock()
	}
}

// do runs steps with a deadline.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// fail ends the test with what the page showed and wrote.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	b.mu.Lock()
	errs := strings.Join(b.errors, "\n")
	b.mu.Unlock()
	b.t.Fatalf("%s: %v\npage: %s\nerrors: %s", what, err, text, errs)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor waits until the expression is true in the page.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	b.do("waiting for "+what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))(ctx, t)
		return err
	}))
}

// screenshot saves the page as NAME.png in the screenshot directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "gantry-ui-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
}

// checkNoErrors fails the test if the page wrote an error.
func (b *browser) checkNoErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("the page wrote an error: %s", e)
	}
}

// login types token into the page's token form.
func (b *browser) login(token string) {
	b.t.Helper()
	b.do("log in",
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		// A click, not form.submit(), which fires no submit event.
		chromedp.Click(chromedp.CSS("#login button")),
	)
}

// TestBrowser drives the dashboard in headless Chromium against a real
// server with tokens, mounted under a path prefix: the overview shows live
// data, a job's progress bar follows a worker's reports, cancel and retry
// work, an admin action without the scope is refused, the list pages with
// its cursor, a job is enqueued from the form, and the page writes no
// error (the CSP blocks nothing it needs).
func TestBrowser(t *testing.T) {
	e := setup(t, &options{tokens: true})
	b := newBrowser(t)
	ctx := context.Background()
	for i := range 60 {
		e.enqueue(i)
	}
	if err := e.client.PauseQueue(ctx, "reports"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := e.store.BeatNode(ctx, &store.Node{ID: "gantry-1@127.0.0.1:8080", StartedAt: now, HeartbeatAt: now, Workers: 16, Running: 1}); err != nil {
		t.Fatal(err)
	}
	page := e.url + prefix

	// With tokens, the page asks for one; with the read token the overview
	// shows the queues and its charts take samples as it polls.
	b.do("open the dashboard", chromedp.Navigate(page))
	b.login(readToken)
	b.waitFor("the queues", `document.querySelector('[data-queue="default"] [data-count="available"]')?.textContent === "60"`)
	b.waitFor("the node", `document.querySelector('#nodes-serving .big')?.textContent === "1" && document.querySelector('[data-node="gantry-1@127.0.0.1:8080"]') !== null`)
	b.waitFor("a paused queue", `document.getElementById('paused')?.textContent.includes('reports')`)
	b.waitFor("two samples of the charts", `Number(document.getElementById('throughput')?.dataset.samples) >= 2`)
	// Workers finish five jobs: the throughput chart shows them.
	done, err := e.client.Workers().Lease(ctx, &gantry.LeaseParams{Max: 5, LeaseFor: time.Minute})
	if err != nil || len(done) != 5 {
		t.Fatalf("lease 5: %d, %v", len(done), err)
	}
	for _, j := range done {
		if _, err := e.client.Workers().Complete(ctx, &gantry.CompleteParams{ID: j.ID, LeaseToken: j.LeaseToken}); err != nil {
			t.Fatal(err)
		}
	}
	b.waitFor("the finished jobs in the throughput chart", `Number(document.getElementById('throughput')?.dataset.last) > 0`)
	b.waitFor("the succeeded count", `document.querySelector('[data-queue="default"] [data-count="succeeded"]')?.textContent === "5"`)
	if got := eval[string](b, `sessionStorage.getItem('gantry.token')`); got != readToken {
		t.Errorf("session storage holds %q, want the read token", got)
	}
	if got := eval[int](b, `localStorage.length`); got != 0 {
		t.Errorf("local storage holds %d items, want none", got)
	}
	b.screenshot("overview")

	// Pause needs admin: the read token is refused and the page says so.
	b.do("pause with the read token", chromedp.Click(chromedp.CSS(`[data-queue="default"] button[data-action="pause"]`)))
	b.waitFor("the refusal", `document.getElementById('notice').textContent.includes('lacks the "admin" scope')`)
	if qs, err := e.client.Queues(ctx); err != nil {
		t.Fatal(err)
	} else {
		for _, q := range qs {
			if q.Name == "default" && q.Paused {
				t.Error("the default queue was paused with the read token")
			}
		}
	}

	// A worker reports progress; the job page's bar follows it live.
	j := e.lease()
	b.do("open the job", chromedp.Navigate(page+"#/jobs/"+j.ID))
	b.waitFor("the job page", `document.getElementById('progress') !== null && document.querySelector('h1 [data-state="running"]') !== null`)
	for _, pct := range []int{20, 55, 90} {
		if _, err := e.client.Workers().Heartbeat(ctx, &gantry.HeartbeatParams{ID: j.ID, LeaseToken: j.LeaseToken,
			Progress: &gantry.Progress{Percent: pct, Message: "resizing"}}); err != nil {
			t.Fatal(err)
		}
		b.waitFor(fmt.Sprintf("the bar at %d", pct), fmt.Sprintf(`document.getElementById('progress')?.value === %d`, pct))
	}
	b.screenshot("job")

	// Cancel and retry with the admin token, after logging out.
	b.do("log out", chromedp.Click(chromedp.ID("logout")))
	b.waitFor("the token form", `document.getElementById('token') !== null && sessionStorage.getItem('gantry.token') === null`)
	b.login(adminToken)
	b.waitFor("the job page again", `document.getElementById('cancel') !== null`)
	b.do("cancel", chromedp.Click(chromedp.ID("cancel")))
	b.waitFor("the cancelled job", `document.querySelector('h1 [data-state="cancelled"]') !== null && document.getElementById('retry') !== null`)
	if got, err := e.client.Get(ctx, j.ID); err != nil || got.State != gantry.StateCancelled {
		t.Fatalf("after cancel from the page: %v, %v", got.State, err)
	}
	b.do("retry", chromedp.Click(chromedp.ID("retry")))
	b.waitFor("the retried job", `document.querySelector('h1 [data-state="available"]') !== null`)
	if got, err := e.client.Get(ctx, j.ID); err != nil || got.State != gantry.StateAvailable {
		t.Fatalf("after retry from the page: %v, %v", got.State, err)
	}

	// The list filters by state and pages with its cursor.
	b.do("open the list", chromedp.Navigate(page+"#/jobs?state=available"))
	b.waitFor("a full page", `document.querySelectorAll('#job-list tbody tr').length === 50 && document.getElementById('next-page') !== null`)
	first := eval[string](b, `document.querySelector('#job-list tbody tr').dataset.job`)
	b.screenshot("jobs")
	b.do("next page", chromedp.Click(chromedp.ID("next-page")))
	b.waitFor("the second page", `document.querySelectorAll('#job-list tbody tr').length === 5`)
	if got := eval[string](b, `document.querySelector('#job-list tbody tr').dataset.job`); got == first {
		t.Error("the second page starts with the first page's job")
	}

	// A job enqueued from the form opens its page.
	b.do("open the form", chromedp.Navigate(page+"#/enqueue"))
	b.do("fill the form",
		chromedp.WaitVisible(chromedp.ID("enqueue-kind")),
		chromedp.SendKeys(chromedp.ID("enqueue-kind"), "demo"),
		chromedp.SendKeys(chromedp.ID("enqueue-queue"), "reports"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('enqueue-args').value = '{"n": 99}'`),
	)
	b.screenshot("enqueue")
	b.do("enqueue", chromedp.Click(chromedp.CSS(`#enqueue button[type="submit"]`)))
	b.waitFor("the new job's page", `document.getElementById('args')?.textContent.includes('99')`)
	id := eval[string](b, `decodeURIComponent(location.hash.slice('#/jobs/'.length))`)
	if got, err := e.client.Get(ctx, id); err != nil || got.Queue != "reports" || string(got.Args) != `{"n":99}` {
		t.Errorf("the job enqueued from the form: %+v, %v", got, err)
	}

	b.checkNoErrors()
	if n := e.api.Streams(); n > 1 {
		t.Errorf("%d streams open with one page, want at most 1", n)
	}
}
