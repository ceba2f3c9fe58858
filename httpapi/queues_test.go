package httpapi_test

import (
	"net/http"
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
	} {
		p := e.expect(tc.status, req{method: "PUT", path: "/v1/queues/email/limits", body: tc.body}).problem(t)
		if tc.field != "" && p.Field != tc.field {
			t.Errorf("%s: problem on field %q, want %q", tc.body, p.Field, tc.field)
		}
	}
	e.expect(http.StatusBadRequest, req{method: "PUT", path: "/v1/queues/bad%20name/limits", body: `{}`})
	e.expect(http.StatusBadRequest, req{method: "PUT", path: "/v1/queues/email/limits"})
}
