// Command roundtrip drives a running gantry serve through the Go client
// that oapi-codegen generates from api/openapi.yaml, as a user of another
// module would: every request and answer goes through the generated types,
// with no type assertions. It exits non-zero at the first answer that is
// not what the document promises. api/clients/run.sh runs it.
//
//	go generate ./... && go run . -server http://127.0.0.1:8080
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"time"

	"github.com/gantry-dev/gantry/api/clients/go/gantryclient"
)

func main() {
	server := flag.String("server", "http://127.0.0.1:8080", "the base URL of gantry serve")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *server); err != nil {
		fmt.Fprintln(os.Stderr, "go client round trip:", err)
		os.Exit(1)
	}
	fmt.Println("go client round trip: ok")
}

func ptr[T any](v T) *T { return &v }

// status checks the answer's status code.
func status(what string, got *http.Response, want int, body []byte) error {
	if got.StatusCode != want {
		return fmt.Errorf("%s: status %d, want %d: %s", what, got.StatusCode, want, body)
	}
	return nil
}

func run(ctx context.Context, server string) error {
	c, err := gantryclient.NewClientWithResponses(server)
	if err != nil {
		return err
	}

	// Enqueue gantry.echo, whose result is its args, and long-poll to it.
	args := map[string]any{"greeting": "hello", "n": 3.0}
	enq, err := c.EnqueueJobWithResponse(ctx, nil, gantryclient.JobRequest{Kind: "gantry.echo", Args: &args})
	if err != nil {
		return err
	}
	if err := status("enqueue", enq.HTTPResponse, http.StatusAccepted, enq.Body); err != nil {
		return err
	}
	if enq.JSON202 == nil {
		return fmt.Errorf("enqueue: no job: %s", enq.Body)
	}
	first, err := enq.JSON202.AsJobResource()
	if err != nil || enq.HTTPResponse.Header.Get("Location") != "/v1/jobs/"+first.Id {
		return fmt.Errorf("enqueue: not a whole job (%v) or a wrong Location: %s", err, enq.Body)
	}
	id := first.Id
	var done *gantryclient.JobResource
	for done == nil || done.State != "succeeded" {
		got, err := c.GetJobWithResponse(ctx, id, &gantryclient.GetJobParams{Wait: ptr("30s")})
		if err != nil {
			return err
		}
		if err := status("long-poll", got.HTTPResponse, http.StatusOK, got.Body); err != nil {
			return err
		}
		if done = got.JSON200; done.State == "failed" || done.State == "cancelled" {
			return fmt.Errorf("echo job ended %s: %s", done.State, got.Body)
		}
	}
	if !sameJSON(done.Result, args) {
		return fmt.Errorf("echo result %v, want the args %v", done.Result, args)
	}

	// A batch of three sleeps, then the list a page of two at a time.
	var jobs []gantryclient.JobRequest
	for i := range 3 {
		jobs = append(jobs, gantryclient.JobRequest{Kind: "gantry.sleep", Args: &map[string]any{"ms": 10 * i}, Priority: ptr(i + 1)})
	}
	batch, err := c.EnqueueBatchWithResponse(ctx, nil, gantryclient.BatchRequest{Jobs: jobs})
	if err != nil {
		return err
	}
	if err := status("batch", batch.HTTPResponse, http.StatusAccepted, batch.Body); err != nil {
		return err
	}
	if len(batch.JSON202.Jobs) != 3 {
		return fmt.Errorf("batch: %s", batch.Body)
	}
	var batchIDs []string
	for i, e := range batch.JSON202.Jobs {
		// An enqueued job is the whole job, or a JobSummary for a
		// unique_key duplicate answered to a token that may not read.
		j, err := e.AsJobResource()
		if err != nil || j.Priority != i+1 {
			return fmt.Errorf("batch job %d is not the whole job of priority %d (%v): %s", i, i+1, err, batch.Body)
		}
		batchIDs = append(batchIDs, j.Id)
	}
	seen := map[string]bool{}
	params := &gantryclient.ListJobsParams{Kind: ptr("gantry.sleep"), Limit: ptr(2)}
	for pages := 0; ; pages++ {
		list, err := c.ListJobsWithResponse(ctx, params)
		if err != nil {
			return err
		}
		if err := status("list", list.HTTPResponse, http.StatusOK, list.Body); err != nil {
			return err
		}
		for _, j := range list.JSON200.Jobs {
			seen[j.Id] = true
		}
		if list.JSON200.NextCursor == "" {
			break
		}
		if pages > 3 {
			return fmt.Errorf("list: more pages than jobs")
		}
		params.Cursor = ptr(list.JSON200.NextCursor)
	}
	for _, id := range batchIDs {
		if !seen[id] {
			return fmt.Errorf("list with a cursor did not return batch job %s", id)
		}
	}

	// An external worker: lease a job of a kind without an in-process
	// handler, heartbeat with progress and a checkpoint, complete it.
	work, err := c.EnqueueJobWithResponse(ctx, nil, gantryclient.JobRequest{Kind: "go.work", Args: &map[string]any{"file": "a.png"}})
	if err != nil {
		return err
	}
	if err := status("enqueue go.work", work.HTTPResponse, http.StatusAccepted, work.Body); err != nil {
		return err
	}
	lease, err := c.LeaseJobsWithResponse(ctx, "default", gantryclient.LeaseRequest{
		Max: ptr(1), Kinds: &[]gantryclient.Name{"go.work"}, Lease: ptr("30s"), Wait: ptr("10s")})
	if err != nil {
		return err
	}
	if err := status("lease", lease.HTTPResponse, http.StatusOK, lease.Body); err != nil {
		return err
	}
	workJob, err := work.JSON202.AsJobResource()
	if err != nil {
		return fmt.Errorf("enqueue go.work: not a whole job (%v): %s", err, work.Body)
	}
	if len(lease.JSON200.Jobs) != 1 || lease.JSON200.Jobs[0].Id != workJob.Id {
		return fmt.Errorf("lease: want job %s: %s", workJob.Id, lease.Body)
	}
	leased := lease.JSON200.Jobs[0]
	hb, err := c.HeartbeatJobWithResponse(ctx, leased.Id, gantryclient.HeartbeatRequest{
		LeaseToken: leased.LeaseToken, Progress: ptr(50), Message: ptr("halfway"), Checkpoint: map[string]any{"page": 7.0}})
	if err != nil {
		return err
	}
	if err := status("heartbeat", hb.HTTPResponse, http.StatusOK, hb.Body); err != nil {
		return err
	}
	if hb.JSON200.Progress == nil || hb.JSON200.Progress.Percent != 50 || !sameJSON(hb.JSON200.Checkpoint, map[string]any{"page": 7.0}) {
		return fmt.Errorf("heartbeat: progress or checkpoint not recorded: %s", hb.Body)
	}
	result := map[string]any{"thumbnail": "a-256.png"}
	comp, err := c.CompleteJobWithResponse(ctx, leased.Id, gantryclient.CompleteRequest{LeaseToken: leased.LeaseToken, Result: result})
	if err != nil {
		return err
	}
	if err := status("complete", comp.HTTPResponse, http.StatusOK, comp.Body); err != nil {
		return err
	}
	if comp.JSON200.State != "succeeded" || !sameJSON(comp.JSON200.Result, result) {
		return fmt.Errorf("complete: %s", comp.Body)
	}

	// A typed 409: the lease ended with the completion.
	again, err := c.CompleteJobWithResponse(ctx, leased.Id, gantryclient.CompleteRequest{LeaseToken: leased.LeaseToken})
	if err != nil {
		return err
	}
	if err := status("second complete", again.HTTPResponse, http.StatusConflict, again.Body); err != nil {
		return err
	}
	if p := again.ApplicationproblemJSON409; p == nil || p.Code != "lease_lost" || p.State == nil || *p.State != "succeeded" {
		return fmt.Errorf("second complete: want a lease_lost problem with state succeeded: %s", again.Body)
	}

	// A typed 404.
	missing, err := c.GetJobWithResponse(ctx, "no-such-job", nil)
	if err != nil {
		return err
	}
	if err := status("get a missing job", missing.HTTPResponse, http.StatusNotFound, missing.Body); err != nil {
		return err
	}
	if p := missing.ApplicationproblemJSON404; p == nil || p.Code != "not_found" || p.Status != http.StatusNotFound {
		return fmt.Errorf("get a missing job: want a not_found problem: %s", missing.Body)
	}

	// Queue counts name every state.
	queues, err := c.ListQueuesWithResponse(ctx)
	if err != nil {
		return err
	}
	if err := status("queues", queues.HTTPResponse, http.StatusOK, queues.Body); err != nil {
		return err
	}
	for _, q := range queues.JSON200.Queues {
		if q.Name == "default" && q.Counts.Succeeded < 2 {
			return fmt.Errorf("queues: default has %d succeeded jobs, want at least 2: %s", q.Counts.Succeeded, queues.Body)
		}
	}
	return nil
}

// sameJSON reports whether two values encode to the same JSON.
func sameJSON(a, b any) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	if erra != nil || errb != nil {
		return false
	}
	var va, vb any
	return json.Unmarshal(ja, &va) == nil && json.Unmarshal(jb, &vb) == nil && reflect.DeepEqual(va, vb)
}
