package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/internal/push"
	"github.com/gantry-dev/gantry/internal/ratelimit"
	"github.com/gantry-dev/gantry/store/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type pushEnv struct {
	c *gantry.Client
	d *push.Dispatcher
}

// setup opens a client on an embedded store in a temp dir and starts a
// dispatcher of the targets on it; both stop at cleanup.
func setup(t *testing.T, targets ...push.Target) *pushEnv {
	t.Helper()
	t.Parallel()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gantry.NewClient(st, &gantry.Config{Backoff: func(int) time.Duration { return time.Hour }})
	if err != nil {
		t.Fatal(err)
	}
	d, err := push.New(&push.Config{Client: c, Targets: targets, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Stop(ctx); err != nil {
			t.Errorf("stop dispatcher: %v", err)
		}
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop client: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return &pushEnv{c: c, d: d}
}

// newClient opens an unstarted client on an embedded store in a temp dir,
// both closed at cleanup.
func newClient(t *testing.T) *gantry.Client {
	t.Helper()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gantry.NewClient(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Stop(context.Background())
		st.Close()
	})
	return c
}

// target serves h on loopback.
func target(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type thumb struct {
	URL string `json:"url,omitempty"`
	N   int    `json:"n"`
}

func (thumb) Kind() string { return "thumbnail" }

func (e *pushEnv) enqueue(t *testing.T, args thumb, opts *gantry.EnqueueOpts) *gantry.Job {
	t.Helper()
	en, err := e.c.Enqueue(t.Context(), args, opts)
	if err != nil {
		t.Fatal(err)
	}
	return en.Job
}

// waitFor waits until the job satisfies ok, up to 10 s.
func (e *pushEnv) waitFor(t *testing.T, id string, ok func(*gantry.Job) bool) *gantry.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := e.c.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: state %s attempt %d errors %v: the condition did not hold within 10s", id, j.State, j.Attempt, j.Errors)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func final(j *gantry.Job) bool { return j.State.Final() }

func state(s gantry.State) func(*gantry.Job) bool {
	return func(j *gantry.Job) bool { return j.State == s }
}

func TestSignedPushSucceedsWithTheResult(t *testing.T) {
	type seen struct {
		header http.Header
		body   []byte
	}
	got := make(chan seen, 1)
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Clone(), b}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"url":"s3://bucket/thumb.png"}`)
	})
	e := setup(t, push.Target{Name: "thumbnail", URL: srv.URL + "/thumbnail", Secrets: []string{"old-secret", "new-secret"}})
	j := e.enqueue(t, thumb{N: 7}, nil)
	done := e.waitFor(t, j.ID, final)
	if done.State != gantry.StateSucceeded || string(done.Result) != `{"url":"s3://bucket/thumb.png"}` {
		t.Fatalf("job = %s with result %s, want succeeded with the target's JSON", done.State, done.Result)
	}
	s := <-got
	if s.header.Get("Gantry-Job-Id") != j.ID || s.header.Get("Gantry-Attempt") != "1" || s.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", s.header)
	}
	sig := s.header.Get("Gantry-Signature")
	if strings.Count(sig, "v1=") != 2 {
		t.Errorf("signature %q: want one v1 per secret", sig)
	}
	// A target that knows either secret accepts it; another secret, a
	// changed body or an old timestamp is refused.
	for _, secret := range []string{"old-secret", "new-secret"} {
		if !push.Verify(sig, secret, s.body, time.Now(), 5*time.Minute) {
			t.Errorf("the signature does not verify with %q", secret)
		}
	}
	if push.Verify(sig, "other", s.body, time.Now(), 5*time.Minute) {
		t.Error("the signature verifies with a wrong secret")
	}
	if push.Verify(sig, "new-secret", append(s.body, ' '), time.Now(), 5*time.Minute) {
		t.Error("the signature verifies a changed body")
	}
	if push.Verify(sig, "new-secret", s.body, time.Now().Add(time.Hour), 5*time.Minute) {
		t.Error("an hour-old signature verifies")
	}
	// The body is the job as a leased worker sees it.
	var lj httpapi.LeasedJob
	if err := json.Unmarshal(s.body, &lj); err != nil {
		t.Fatal(err)
	}
	if lj.ID != j.ID || lj.Kind != "thumbnail" || lj.LeaseToken == "" || lj.LeaseExpiresAt.IsZero() || string(lj.Args) != `{"n":7}` || lj.State != gantry.StateRunning {
		t.Errorf("pushed body = %s", s.body)
	}
}

func TestUnsignedWithoutSecret(t *testing.T) {
	sig := make(chan string, 1)
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		sig <- r.Header.Get("Gantry-Signature")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "done: 42")
	})
	e := setup(t, push.Target{Name: "thumbnail", URL: srv.URL})
	j := e.enqueue(t, thumb{}, nil)
	done := e.waitFor(t, j.ID, final)
	if s := <-sig; s != "" {
		t.Errorf("signature %q without a secret", s)
	}
	if done.State != gantry.StateSucceeded || string(done.Result) != `"done: 42"` {
		t.Errorf("job %s with result %s, want the text as a JSON string", done.State, done.Result)
	}
}

func TestAnswers(t *testing.T) {
	big := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name   string
		h      http.HandlerFunc
		target push.Target
		state  gantry.State
		error  string
	}{
		{"NoContent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, push.Target{}, gantry.StateSucceeded, ""},
		{"Created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); io.WriteString(w, "[1]") }, push.Target{}, gantry.StateSucceeded, ""},
		{"NotFound", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such image", 404) }, push.Target{}, gantry.StateFailed, "answered 404: no such image"},
		{"Unprocessable", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(422) }, push.Target{}, gantry.StateFailed, "answered 422"},
		{"ServerError", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, push.Target{}, gantry.StateRetrying, "answered 500: boom"},
		{"TooLarge", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) }, push.Target{MaxResponseBytes: 100}, gantry.StateRetrying, "larger than max_response_bytes 100"},
		{"Timeout", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, push.Target{Timeout: 200 * time.Millisecond}, gantry.StateRetrying, "no answer within the attempt's timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := target(t, tc.h)
			tg := tc.target
			tg.Name, tg.URL = "thumbnail", srv.URL
			e := setup(t, tg)
			j := e.enqueue(t, thumb{}, &gantry.EnqueueOpts{MaxAttempts: 3})
			got := e.waitFor(t, j.ID, func(j *gantry.Job) bool { return j.State == tc.state })
			if tc.error == "" {
				if len(got.Errors) != 0 {
					t.Errorf("errors %v", got.Errors)
				}
				return
			}
			if len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Message, tc.error) || got.Errors[0].Attempt != 1 {
				t.Errorf("errors %v, want one of attempt 1 with %q", got.Errors, tc.error)
			}
		})
	}
}

func TestJobTimeoutBoundsTheAttempt(t *testing.T) {
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	e := setup(t, push.Target{Name: "thumbnail", URL: srv.URL, Timeout: time.Minute})
	start := time.Now()
	j := e.enqueue(t, thumb{}, &gantry.EnqueueOpts{Timeout: 300 * time.Millisecond, MaxAttempts: 2})
	e.waitFor(t, j.ID, state(gantry.StateRetrying))
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the attempt ended after %v; the job's timeout is 300ms", d)
	}
}

func TestOverloadSpendsNoAttempt(t *testing.T) {
	var calls atomic.Int64
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	e := setup(t, push.Target{Name: "thumbnail", URL: srv.URL})
	// One attempt only: an overload that spent it would fail the job.
	j := e.enqueue(t, thumb{}, &gantry.EnqueueOpts{MaxAttempts: 1})
	snoozed := e.waitFor(t, j.ID, func(j *gantry.Job) bool { return calls.Load() >= 1 && j.State == gantry.StateScheduled })
	if snoozed.Attempt != 0 || len(snoozed.Errors) != 0 {
		t.Errorf("after a 503: attempt %d, errors %v; want none spent", snoozed.Attempt, snoozed.Errors)
	}
	if d := time.Until(snoozed.RunAt); d < 500*time.Millisecond {
		t.Errorf("snoozed until %v from now, want about Retry-After: 1s", d)
	}
	done := e.waitFor(t, j.ID, final)
	if done.State != gantry.StateSucceeded || done.Attempt != 1 || len(done.Errors) != 0 || calls.Load() != 3 {
		t.Errorf("job %s attempt %d errors %v after %d calls; want succeeded in attempt 1 after 3", done.State, done.Attempt, done.Errors, calls.Load())
	}
}

func TestAcceptedJobIsReportedByTheTarget(t *testing.T) {
	leased := make(chan httpapi.LeasedJob, 1)
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		var lj httpapi.LeasedJob
		_ = json.NewDecoder(r.Body).Decode(&lj)
		leased <- lj
		w.WriteHeader(http.StatusAccepted)
	})
	e := setup(t, push.Target{Name: "thumbnail", URL: srv.URL})
	j := e.enqueue(t, thumb{}, nil)
	lj := <-leased
	if got := e.waitFor(t, j.ID, state(gantry.StateRunning)); got.State != gantry.StateRunning {
		t.Fatal(got.State)
	}
	if _, err := e.c.Workers().Complete(t.Context(), &gantry.CompleteParams{ID: lj.ID, LeaseToken: lj.LeaseToken, Result: json.RawMessage(`"later"`)}); err != nil {
		t.Fatalf("the target's complete with the pushed lease token: %v", err)
	}
	if done := e.waitFor(t, j.ID, final); done.State != gantry.StateSucceeded {
		t.Errorf("job %s", done.State)
	}
}

// No request decides where a push goes: the job's args name another URL
// and the target redirects there, and that server never sees a request.
func TestNoTargetFromARequestNoRedirect(t *testing.T) {
	var elsewhere atomic.Int64
	other := target(t, func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) })
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	})
	e := setup(t, push.Target{Name: "thumbnail", URL: srv.URL})
	j := e.enqueue(t, thumb{URL: other.URL}, nil)
	done := e.waitFor(t, j.ID, final)
	if done.State != gantry.StateFailed || len(done.Errors) != 1 || !strings.Contains(done.Errors[0].Message, "redirects are not followed") {
		t.Errorf("job %s errors %v, want failed for the redirect", done.State, done.Errors)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other server got %d requests", n)
	}
}

func TestTargetsAreChecked(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	for _, tg := range []push.Target{
		{Name: "thumbnail", URL: "file:///etc/passwd"},
		{Name: "thumbnail", URL: "gopher://h/"},
		{Name: "thumbnail", URL: "/relative"},
		{Name: "thumbnail", URL: "http://h/#frag"},
		{Name: "bad kind", URL: "http://h/"},
		{Name: "queue:", URL: "http://h/"},
		{Name: "queue:q", Queue: "other", URL: "http://h/"},
		{Name: "thumbnail", URL: "http://h/", Min: 5, Max: 2},
		{Name: "thumbnail", URL: "http://h/", Timeout: -time.Second},
	} {
		if _, err := push.New(&push.Config{Client: c, Targets: []push.Target{tg}}); err == nil {
			t.Errorf("target %+v was accepted", tg)
		}
	}
	if _, err := push.New(&push.Config{Client: c, Targets: []push.Target{{Name: "a", URL: "http://h/"}, {Name: "a", URL: "http://h/"}}}); err == nil {
		t.Error("a target configured twice was accepted")
	}
}

type other struct{}

func (other) Kind() string { return "resize" }

// A queue's target takes the kinds of the queue without a target of their
// own.
func TestQueueTarget(t *testing.T) {
	hits := make(chan string, 4)
	byKind := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var lj httpapi.LeasedJob
			_ = json.NewDecoder(r.Body).Decode(&lj)
			hits <- name + ":" + lj.Kind
			w.WriteHeader(204)
		}
	}
	own := target(t, byKind("own"))
	queue := target(t, byKind("queue"))
	e := setup(t,
		push.Target{Name: "thumbnail", Queue: "media", URL: own.URL},
		push.Target{Name: "queue:media", URL: queue.URL})
	a := e.enqueue(t, thumb{}, &gantry.EnqueueOpts{Queue: "media"})
	b, err := e.c.Enqueue(t.Context(), other{}, &gantry.EnqueueOpts{Queue: "media"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, a.ID, final)
	e.waitFor(t, b.Job.ID, final)
	got := map[string]bool{<-hits: true, <-hits: true}
	if !got["own:thumbnail"] || !got["queue:resize"] {
		t.Errorf("deliveries %v, want thumbnail to its own target and resize to the queue's", got)
	}
}

// At shutdown a push in flight gets until the deadline, then it is cut off
// and its job is available again without a spent attempt.
func TestStopReleasesPushesInFlight(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices a closed connection once the body is read
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	c := newClient(t)
	d, err := push.New(&push.Config{Client: c, Targets: []push.Target{{Name: "thumbnail", URL: srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	en, err := c.Enqueue(t.Context(), thumb{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline's error", err)
	}
	j, err := c.Get(t.Context(), en.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != gantry.StateAvailable || j.Attempt != 0 || len(j.Errors) != 0 {
		t.Errorf("after stop: %s attempt %d errors %v; want available, nothing spent", j.State, j.Attempt, j.Errors)
	}
}

// TestSignatureVector pins the signature of a known body, secret and time:
// the examples' targets (examples/push-target-go) check the same vector.
func TestSignatureVector(t *testing.T) {
	t.Parallel()
	got := push.Sign([]string{"whsec-test"}, time.Unix(1767225600, 0), []byte(`{"id":"01J","kind":"thumbnail","args":{"w":256}}`))
	want := "t=1767225600,v1=acbbd9f2880eb529d08d6fb0f955a94719bb93cd07cc830b5eb247aac2202ca0"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("t=1767225600,v1=acbbd9f2880eb529d08d6fb0f955a94719bb93cd07cc830b5eb247aac2202ca0", []byte(`{"id":"01J","kind":"thumbnail","args":{"w":256}}`))
	f.Add("t=,v1=", []byte{})
	f.Add("v1=zz,t=abc,,=", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		// Verify never panics, and accepts only a header that carries the
		// v1 that Sign makes for the header's time.
		if !push.Verify(header, "whsec-test", body, time.Unix(1767225600, 0), time.Minute) {
			return
		}
		var unix int64
		for part := range strings.SplitSeq(header, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				unix, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		_, v1, _ := strings.Cut(push.Sign([]string{"whsec-test"}, time.Unix(unix, 0), body), ",")
		if !strings.Contains(strings.ToLower(header), v1) {
			t.Fatalf("Verify accepted %q for %q, which lacks %s", header, body, v1)
		}
	})
}

// Start warns about every target without a secret, and only about those.
func TestStartWarnsWithoutSecret(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	// Start logs before it returns; the loops log only failed leases.
	var logs strings.Builder
	d, err := push.New(&push.Config{Client: c, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Targets: []push.Target{
		{Name: "unsigned", URL: "http://127.0.0.1:1/"},
		{Name: "signed", URL: "http://127.0.0.1:1/", Secrets: []string{"s"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=WARN") {
			warnings = append(warnings, line)
		}
	}
	out := logs.String()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "target=unsigned") {
		t.Errorf("logs:\n%s\nwant one warning, for the unsigned target", out)
	}
}

// A target's rate bounds how many requests start: with 10/s (a burst of
// 10), 25 jobs take at least 1.5 s, and no second starts more than
// burst + rate × elapsed.
func TestRateBoundsTheRequests(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	srv := target(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		w.WriteHeader(204)
	})
	r, err := ratelimit.Parse("10/s")
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, push.Target{Name: "thumbnail", URL: srv.URL, Rate: &r, Max: 64})
	var ids []string
	for i := range 25 {
		ids = append(ids, e.enqueue(t, thumb{N: i}, nil).ID)
	}
	for _, id := range ids {
		e.waitFor(t, id, final)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 25 {
		t.Fatalf("%d requests, want 25", len(starts))
	}
	first := starts[0]
	for i, s := range starts {
		if allowed := 10 + 10*s.Sub(first).Seconds() + 1; float64(i+1) > allowed {
			t.Fatalf("request %d started %v after the first, more than the rate allows", i+1, s.Sub(first))
		}
	}
	if d := starts[24].Sub(first); d < 1400*time.Millisecond {
		t.Errorf("25 requests at 10/s with a burst of 10 took %v, want at least 1.5 s", d)
	}
}
