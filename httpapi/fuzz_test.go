package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob/fs"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store/embedded"
)

// fuzzServer is a server on a real store for one fuzz target, called
// in-process (no sockets) so that each input costs little.
type fuzzServer struct {
	api    *httpapi.Server
	client *gantry.Client
	job    string // an existing job's id
	token  string // a lease token of it
}

func newFuzzServer(f *testing.F) *fuzzServer {
	f.Helper()
	dir := f.TempDir()
	st, err := embedded.Open(dir+"/data", nil)
	if err != nil {
		f.Fatal(err)
	}
	blobs, err := fs.Open(dir + "/blobs")
	if err != nil {
		f.Fatal(err)
	}
	c, err := gantry.NewClient(st, nil)
	if err != nil {
		f.Fatal(err)
	}
	api, err := httpapi.New(&httpapi.Config{Client: c, Blobs: blobs, MaxJSONBody: 64 << 10, MaxBlobBody: 64 << 10, MaxPending: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		_ = c.Stop(context.Background())
		_ = st.Close()
		_ = blobs.Close()
	})
	if _, err := c.EnqueueBatch(context.Background(), []gantry.JobSpec{{Kind: "k"}}, nil); err != nil {
		f.Fatal(err)
	}
	jobs, err := c.Workers().Lease(context.Background(), &gantry.LeaseParams{LeaseFor: gantry.MaxLeaseFor})
	if err != nil || len(jobs) != 1 {
		f.Fatalf("lease: %v, %v", jobs, err)
	}
	return &fuzzServer{api: api, client: c, job: jobs[0].ID, token: jobs[0].LeaseToken}
}

// serve sends one request and checks the answer: never a 5xx, and every
// error a problem whose status is the answer's.
func (s *fuzzServer) serve(t *testing.T, method string, u *url.URL, contentType string, body []byte) {
	t.Helper()
	// Valid waits would hold the fuzzer: they end early, and their
	// answers are not checked.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, method, "/", bytes.NewReader(body))
	r.URL = u
	r.RequestURI = u.RequestURI()
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	s.api.ServeHTTP(w, r)
	if ctx.Err() != nil {
		return
	}
	resp := w.Result()
	data, _ := io.ReadAll(resp.Body)
	checkResponse(t, method, u, resp.StatusCode, resp.Header, data)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: status %d: %s", method, u, resp.StatusCode, data)
	}
	if resp.StatusCode < 400 {
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %s: status %d with Content-Type %q", method, u, resp.StatusCode, ct)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(data, &p); err != nil || p.Status != resp.StatusCode || p.Code == "" || p.Detail == "" {
		t.Fatalf("%s %s: status %d with a bad problem (%v): %s", method, u, resp.StatusCode, err, data)
	}
}

func FuzzJobBody(f *testing.F) {
	for _, s := range []string{
		`{"kind":"thumbnail","queue":"default","args":{"w":256},"priority":2,"delay":"30s","max_attempts":5,"timeout":"2m","unique_key":"img-42"}`,
		`{"kind":"k","run_at":"2026-11-22T10:00:00Z","depends_on":["x"],"parent_id":"y"}`,
		`{"kind":"k","priority":1e400}`, `{"kind":"k","delay":"-9223372036854775808ns"}`, `{"kind":"k","args":[]}`,
		`{"kind":"\u0000"}`, `{"KIND":"k"}`, `{"kind":"k","kind":"j"}`, `[[[[`, `{"kind":"k"}` + "\xff", ``, `null`,
	} {
		f.Add([]byte(s))
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		s.serve(t, "POST", &url.URL{Path: "/v1/jobs"}, "application/json", body)
	})
}

func FuzzBatchBody(f *testing.F) {
	for _, s := range []string{
		`{"jobs":[{"kind":"a"},{"kind":"b","queue":"q","delay":"1s"}]}`,
		`{"jobs":[{"kind":"a"},{"kind":"b","depends_on":["a"]}]}`,
		`{"jobs":[null,1,"x",[],{}]}`, `{"jobs":null}`, `{"jobs":[{"kind":"a","unique_key":"u"},{"kind":"a","unique_key":"u"}]}`,
	} {
		f.Add([]byte(s))
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		s.serve(t, "POST", &url.URL{Path: "/v1/jobs/batch"}, "application/json", body)
	})
}

func FuzzLeaseBody(f *testing.F) {
	for _, s := range []string{
		`{"max":10,"lease":"30s","wait":"20s","kinds":["thumbnail"]}`, `{}`, ``, `{"max":1e9}`, `{"lease":"1h1h1h1h"}`,
		`{"wait":"9223372036854775807ns"}`, `{"kinds":[""]}`,
	} {
		f.Add("default", []byte(s))
	}
	f.Add("a b", []byte(`{}`))
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, queue string, body []byte) {
		s.serve(t, "POST", &url.URL{Path: "/v1/queues/" + queue + "/lease", RawPath: "/v1/queues/" + url.PathEscape(queue) + "/lease"}, "application/json", body)
	})
}

func FuzzLimitsBody(f *testing.F) {
	for _, s := range []string{
		`{"rate":"50/s","burst":10,"key":"args.customer_id","per_key_concurrency":2,"per_key_rate":"5/s","per_key_burst":3,"weights":{"acme":3}}`,
		`{"key":"kind","per_key_concurrency":1,"order":"fifo"}`, `{}`, `{"rate":null}`, `{"key":""}`, `{"weights":{"a":1e9}}`,
		`{"key":"args.a.b.c.d.e.f.g.h.i"}`, `{"per_key_burst":-1}`, `{"weights":{"a":1,"a":2}}`,
	} {
		f.Add("email", []byte(s))
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, queue string, body []byte) {
		s.serve(t, "PUT", &url.URL{Path: "/v1/queues/" + queue + "/limits", RawPath: "/v1/queues/" + url.PathEscape(queue) + "/limits"}, "application/json", body)
	})
}

func FuzzWorkerBodies(f *testing.F) {
	for _, s := range []string{
		`{"lease_token":"TOKEN","progress":40,"message":"resizing","checkpoint":{"p":1},"extend":"30s"}`,
		`{"lease_token":"TOKEN","result":{"ok":true}}`,
		`{"lease_token":"TOKEN","error":"boom","retry":true,"retry_in":"10s"}`,
		`{"lease_token":"TOKEN","retry":false}`, `{"lease_token":"1.000000000000000000000000"}`,
		`{"lease_token":"TOKEN","progress":-1}`, `{"lease_token":"TOKEN","extend":"1000000h"}`, `{}`,
	} {
		for route := range byte(3) {
			f.Add(route, true, []byte(s))
		}
	}
	s := newFuzzServer(f)
	routes := []string{"heartbeat", "complete", "fail"}
	f.Fuzz(func(t *testing.T, route byte, realJob bool, body []byte) {
		id := "no-such-job"
		if realJob {
			id = s.job
			body = bytes.ReplaceAll(body, []byte("TOKEN"), []byte(s.token))
		}
		s.serve(t, "POST", &url.URL{Path: "/v1/jobs/" + id + "/" + routes[int(route)%len(routes)]}, "application/json", body)
	})
}

func FuzzQuery(f *testing.F) {
	for _, q := range []string{
		"state=available&kind=k&queue=q&parent_id=p&limit=10&cursor=abc", "limit=99999999999999999999", "state=%ff",
		"wait=30s", "wait=61", "wait=-1", "wait=1e9", "kind=k&priority=3&delay=5s&run_at=2026-01-01T00:00:00Z&args=%7B%7D",
		"kind=k&depends_on=a,b&depends_on=c", "kind=k&args=%5B%5B%5B", "%zz", "a=1&a=2", ";;&&==",
	} {
		for route := range byte(4) {
			f.Add(route, q)
		}
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, route byte, rawQuery string) {
		switch route % 4 {
		case 0:
			s.serve(t, "GET", &url.URL{Path: "/v1/jobs", RawQuery: rawQuery}, "", nil)
		case 1:
			s.serve(t, "GET", &url.URL{Path: "/v1/jobs/" + s.job, RawQuery: rawQuery}, "", nil)
		case 2:
			s.serve(t, "POST", &url.URL{Path: "/v1/jobs", RawQuery: rawQuery}, "application/octet-stream", []byte("payload"))
		case 3:
			s.serve(t, "GET", &url.URL{Path: "/v1/queues", RawQuery: rawQuery}, "", nil)
		}
	})
}

func FuzzWorkflowBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"publish-image-42","jobs":[{"ref":"small","kind":"thumbnail","args":{"width":128}},` +
			`{"ref":"meta","kind":"extract"},{"ref":"publish","kind":"publish","depends_on":["small","meta"],"if_dependency_fails":"run"},` +
			`{"ref":"album","kind":"album","children":[{"ref":"a1","kind":"thumbnail"},{"ref":"a2","kind":"t","depends_on":["a1"]}]}]}`,
		`{"jobs":[{"ref":"a","kind":"k","depends_on":["b"]},{"ref":"b","kind":"k","depends_on":["a"]}]}`,
		`{"jobs":[{"ref":"a","kind":"k"},{"ref":"a","kind":"k"}]}`,
		`{"jobs":[{"ref":"a","kind":"k","children":[{"ref":"b","kind":"k","children":[{"ref":"c","kind":"k","depends_on":["a"]}]}]}]}`,
		`{"jobs":[{"ref":"p","kind":"k","depends_on":["c"],"children":[{"ref":"c","kind":"k"}]}]}`,
		`{"jobs":[{"ref":"a","kind":"k","depends_on":["0190f5c5-9d5a-7d8e-9d4e-6b2a1c3d4e5f"]}]}`,
		`{"jobs":[]}`, `{"jobs":null}`, `{"jobs":[{"ref":"","kind":""}]}`, `{"name":1}`, `[`,
	} {
		f.Add([]byte(s))
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		s.serve(t, "POST", &url.URL{Path: "/v1/workflows"}, "application/json", body)
	})
}

func FuzzSpawnBody(f *testing.F) {
	for _, s := range []string{
		`{"lease_token":"TOKEN","jobs":[{"ref":"c1","kind":"k"},{"ref":"c2","kind":"k","depends_on":["c1"]}]}`,
		`{"lease_token":"TOKEN","jobs":[{"ref":"c1","kind":"k","children":[{"ref":"c2","kind":"k"}]}]}`,
		`{"lease_token":"1.000000000000000000000000","jobs":[{"ref":"x","kind":"k"}]}`,
		`{"lease_token":"TOKEN","jobs":[]}`, `{"jobs":[{"ref":"x","kind":"k"}]}`, `{"lease_token":5}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.ReplaceAll(body, []byte("TOKEN"), []byte(s.token))
		s.serve(t, "POST", &url.URL{Path: "/v1/jobs/" + s.job + "/children"}, "application/json", body)
	})
}
