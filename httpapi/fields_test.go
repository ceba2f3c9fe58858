package httpapi

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

func TestJSONField(t *testing.T) {
	t.Parallel()
	for goName, want := range map[string]string{
		"Kind":             "kind",
		"MaxAttempts":      "max_attempts",
		"DependsOn[3]":     "depends_on[3]",
		"Kinds[0]":         "kinds[0]",
		"LeaseFor":         "lease",
		"Progress.Message": "message",
		"RetryIn":          "retry_in",
		"NotInTheTable":    "NotInTheTable",
		"":                 "",
	} {
		if got := jsonField(goName); got != want {
			t.Errorf("jsonField(%q) = %q, want %q", goName, got, want)
		}
	}
}

// TestJSONNamesExist: every name of the table is a member of a request
// body or a query parameter the API takes, so the table cannot drift from
// the API.
func TestJSONNamesExist(t *testing.T) {
	t.Parallel()
	members := map[string]bool{}
	for _, v := range []any{JobRequest{}, LeaseRequest{}, HeartbeatRequest{}, CompleteRequest{}, FailRequest{}, LimitsRequest{}} {
		for f := range reflect.TypeOf(v).Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			members[name] = true
		}
	}
	// The query of GET /v1/jobs and of uploads, and the {id} of the path.
	for _, q := range append(slices.Clone(blobQuery), "state", "cursor", "limit", "id") {
		members[q] = true
	}
	for goName, name := range jsonNames {
		if !members[name] {
			t.Errorf("jsonNames maps %s to %q, which no request body or query of the API has", goName, name)
		}
	}
}

// TestJobResourceLimitKey: a job's limit key is shown when it has one
// (the stores set it at enqueue in keyed queues), and left out otherwise.
func TestJobResourceLimitKey(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{"acme": `"limit_key":"acme"`, "": ""} {
		b, err := json.Marshal(jobResource(&store.Job{ID: "j", Kind: "k", Queue: "q", LimitKey: key}))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), `"limit_key"`); got != (want != "") || !strings.Contains(string(b), want) {
			t.Errorf("limit key %q: %s, want it to contain %q", key, b, want)
		}
	}
}
