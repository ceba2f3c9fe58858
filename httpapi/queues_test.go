package httpapi_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
)

func TestQueueLimits(t *testing.T) {
	e := setup(t, nil)
	var q httpapi.QueueResource
	e.expect(http.StatusOK, req{method: "PUT", path: "/v1/queues/email/limits", body: `{"rate":"50/s","burst":10}`}).decode(t, &q)
	if q.Name != "email" || q.Limits.Rate == nil || *q.Limits.Rate != "50/s" || q.Limits.Burst == nil || *q.Limits.Burst != 10 {
		t.Fatalf("PUT limits answered %+v", q)
	}
	var ql httpapi.QueueList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/queues"}).decode(t, &ql)
	found := false
	for _, q := range ql.Queues {
		if q.Name == "email" {
			found = q.Limits.Rate != nil && *q.Limits.Rate == "50/s" && *q.Limits.Burst == 10
		} else if q.Limits.Rate != nil || q.Limits.Burst != nil {
			t.Errorf("queue %s has limits %+v", q.Name, q.Limits)
		}
	}
	if !found {
		t.Errorf("GET /v1/queues does not show email's limits: %+v", ql.Queues)
	}
	// No burst: a bucket of 1.
	e.expect(http.StatusOK, req{method: "PUT", path: "/v1/queues/email/limits", body: `{"rate":"3/m"}`}).decode(t, &q)
	if *q.Limits.Rate != "3/m" || *q.Limits.Burst != 1 {
		t.Errorf("limits without burst: %+v", q.Limits)
	}
	// A null rate removes them.
	e.expect(http.StatusOK, req{method: "PUT", path: "/v1/queues/email/limits", body: `{"rate":null}`}).decode(t, &q)
	if q.Limits.Rate != nil || q.Limits.Burst != nil {
		t.Errorf("limits after removing them: %+v", q.Limits)
	}
	for _, tc := range []struct {
		body, field string
		status      int
	}{
		{`{"rate":"50"}`, "rate", 422},
		{`{"rate":""}`, "rate", 422},
		{`{"rate":"5/s","burst":-1}`, "burst", 422},
		{`{"rate":"5/s","burst":2000000}`, "burst", 422},
		{`{"burst":3}`, "burst", 422},
		{`{"rate":5}`, "", 400},
		{`{"rates":"5/s"}`, "", 400},
		{`{"key":""}`, "key", 422},
		{`{"key":"customer"}`, "key", 422},
		{`{"per_key_concurrency":2}`, "key", 422},
		{`{"key":"kind","per_key_concurrency":-1}`, "per_key_concurrency", 422},
		{`{"key":"kind","per_key_rate":"lots"}`, "per_key_rate", 422},
		{`{"key":"kind","per_key_rate":""}`, "per_key_rate", 422},
		{`{"key":"kind","per_key_burst":2}`, "per_key_burst", 422},
		{`{"key":"kind","weights":{"a":0}}`, "weights", 422},
		{`{"key":"kind","weights":{"a":"3"}}`, "", 400},
		{`{"key":"kind","order":"lifo"}`, "order", 422},
		{`{"key":"kind","order":"fifo"}`, "per_key_concurrency", 422},
	} {
		p := e.expect(tc.status, req{method: "PUT", path: "/v1/queues/email/limits", body: tc.body}).problem(t)
		if tc.field != "" && p.Field != tc.field {
			t.Errorf("%s: problem on field %q, want %q", tc.body, p.Field, tc.field)
		}
	}
	e.expect(http.StatusBadRequest, req{method: "PUT", path: "/v1/queues/bad%20name/limits", body: `{}`})
	e.expect(http.StatusBadRequest, req{method: "PUT", path: "/v1/queues/email/limits"})
}

// TestQueueLimitsPerKey: PUT /v1/queues/{name}/limits takes every setting
// of gantry.Limits, GET /v1/queues shows them, and problems name the
// members by their JSON names.
func TestQueueLimitsPerKey(t *testing.T) {
	e := setup(t, nil)
	var q httpapi.QueueResource
	e.expect(http.StatusOK, req{method: "PUT", path: "/v1/queues/tenants/limits",
		body: `{"rate":"50/s","key":"args.customer_id","per_key_concurrency":2,"per_key_rate":"5/s","weights":{"acme":3,"42":2}}`}).decode(t, &q)
	want := httpapi.QueueLimits{LimitsRequest: httpapi.LimitsRequest{Rate: ptr("50/s"), Burst: ptr(1), Key: ptr("args.customer_id"),
		PerKeyConcurrency: ptr(2), PerKeyRate: ptr("5/s"), PerKeyBurst: ptr(1), Weights: map[string]int{"acme": 3, "42": 2}}}
	if !reflect.DeepEqual(q.Limits, want) {
		t.Errorf("PUT answered limits %s, want %s", show(q.Limits), show(want))
	}
	var ql httpapi.QueueList
	e.expect(http.StatusOK, req{method: "GET", path: "/v1/queues"}).decode(t, &ql)
	found := false
	for _, qr := range ql.Queues {
		if qr.Name == "tenants" {
			found = reflect.DeepEqual(qr.Limits, want)
		}
	}
	if !found {
		t.Errorf("GET /v1/queues does not show the limits of tenants: %s", show(ql))
	}
	// A sequence, with no rate: the queue's rate and burst are null.
	e.expect(http.StatusOK, req{method: "PUT", path: "/v1/queues/tenants/limits",
		body: `{"key":"kind","per_key_concurrency":1,"order":"fifo","per_key_rate":"1/s","per_key_burst":4}`}).decode(t, &q)
	want = httpapi.QueueLimits{LimitsRequest: httpapi.LimitsRequest{Key: ptr("kind"), PerKeyConcurrency: ptr(1), Order: ptr("fifo"),
		PerKeyRate: ptr("1/s"), PerKeyBurst: ptr(4)}}
	if !reflect.DeepEqual(q.Limits, want) {
		t.Errorf("a sequence: limits %s, want %s", show(q.Limits), show(want))
	}
	// An empty object removes them all.
	e.expect(http.StatusOK, req{method: "PUT", path: "/v1/queues/tenants/limits", body: `{}`}).decode(t, &q)
	if !reflect.DeepEqual(q.Limits, httpapi.QueueLimits{}) {
		t.Errorf("limits after removing them: %s", show(q.Limits))
	}
	// The problem's detail names the other member by its JSON name too.
	p := e.expect(422, req{method: "PUT", path: "/v1/queues/tenants/limits", body: `{"key":"kind","per_key_burst":2}`}).problem(t)
	if !strings.Contains(p.Detail, "per_key_burst: needs per_key_rate") {
		t.Errorf("problem detail %q, want it to name per_key_rate", p.Detail)
	}
}

func ptr[T any](v T) *T { return &v }

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
