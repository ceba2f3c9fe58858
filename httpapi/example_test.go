package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store/embedded"
)

// An external worker in any language: enqueue a job over HTTP, lease it,
// complete it, and read the result.
func Example() {
	dir, err := os.MkdirTemp("", "gantry-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := embedded.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	client, err := gantry.NewClient(st, nil) // no handlers: every kind is for external workers
	if err != nil {
		log.Fatal(err)
	}
	defer client.Stop(context.Background())
	api, err := httpapi.New(&httpapi.Config{Client: client})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	defer api.Drain()

	post := func(path, body string, v any) int {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			log.Fatal(err)
		}
		return resp.StatusCode
	}

	var job httpapi.JobResource
	status := post("/v1/jobs", `{"kind":"thumbnail","args":{"width":256}}`, &job)
	fmt.Println(status, job.Kind, job.State)

	var leased httpapi.LeaseResponse
	post("/v1/queues/default/lease", `{"max":10,"lease":"30s","wait":"5s"}`, &leased)
	fmt.Println(len(leased.Jobs), leased.Jobs[0].State, leased.Jobs[0].Attempt)

	var done httpapi.JobResource
	post("/v1/jobs/"+job.ID+"/complete", `{"lease_token":"`+leased.Jobs[0].LeaseToken+`","result":{"url":"/t/42.png"}}`, &done)
	fmt.Println(done.State, string(done.Result))
	// Output:
	// 202 thumbnail available
	// 1 running 1
	// succeeded {"url":"/t/42.png"}
}
