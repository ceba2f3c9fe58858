package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/httpapi"
)

// TestBadInputMatrix sends every kind of broken body to every endpoint
// that takes one: each answer is a 4xx problem with the expected code.
func TestBadInputMatrix(t *testing.T) {
	const limit = 64 << 10
	e := setup(t, &options{cfg: func(c *httpapi.Config) { c.MaxJSONBody = limit }})
	j := e.enqueue(`{"kind":"k"}`)
	endpoints := []struct {
		path          string
		optionalBody  bool // an empty body is fine
		binaryAllowed bool // other media types are payloads
	}{
		{"/v1/jobs", false, true},
		{"/v1/jobs/batch", false, false},
		{"/v1/queues/default/lease", true, false},
		{"/v1/jobs/" + j.ID + "/heartbeat", false, false},
		{"/v1/jobs/" + j.ID + "/complete", false, false},
		{"/v1/jobs/" + j.ID + "/fail", false, false},
		{"/v1/jobs/" + j.ID + "/cancel", true, false},
		{"/v1/jobs/" + j.ID + "/retry", true, false},
		{"/v1/queues/default/pause", true, false},
	}
	huge := `{"kind":"` + strings.Repeat("a", limit) + `"}`
	cases := []struct {
		name        string
		body        []byte
		contentType string
		chunked     bool
		status      int
		code        string
		field       string
	}{
		{"malformed", []byte(`{"kind":`), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"bare words", []byte(`{kind: k}`), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"single quotes", []byte(`{'kind':'k'}`), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"not an object", []byte(`"kind"`), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"an array", []byte(`[]`), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"null", []byte(` null `), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"invalid UTF-8", []byte("{\"kind\":\"\xff\xfe\"}"), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"deep nesting", []byte(strings.Repeat("[", 10000)), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"deep nesting in a field", []byte(`{"args":` + strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100) + "}"), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"huge", []byte(huge), "", false, 413, httpapi.CodeBodyTooLarge, ""},
		{"huge, chunked", []byte(huge), "", true, 413, httpapi.CodeBodyTooLarge, ""},
		{"unknown field", []byte(`{"zzz":1}`), "", false, 400, httpapi.CodeUnknownField, "zzz"},
		{"trailing data", []byte(`{} {}`), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"trailing garbage", []byte(`{}x`), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"NUL bytes", []byte("{\x00}"), "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"form", []byte(`kind=k`), "application/x-www-form-urlencoded", false, 415, httpapi.CodeUnsupportedMediaType, ""},
		{"unparsable content type", []byte(`{}`), "application/json;;;=", false, 415, httpapi.CodeUnsupportedMediaType, ""},
		{"text", []byte(`{}`), "text/plain", false, 415, httpapi.CodeUnsupportedMediaType, ""},
		{"empty", nil, "", false, 400, httpapi.CodeInvalidJSON, ""},
		{"whitespace", []byte(" \n\t "), "", false, 400, httpapi.CodeInvalidJSON, ""},
	}
	for _, ep := range endpoints {
		for _, tc := range cases {
			if ep.optionalBody && (tc.name == "empty" || tc.name == "whitespace") {
				continue
			}
			if ep.binaryAllowed && tc.name == "text" {
				continue
			}
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			var body any = bytes.NewReader(tc.body)
			if tc.chunked {
				body = chunked{bytes.NewReader(tc.body)}
			}
			resp := e.do(req{method: "POST", path: ep.path, body: body, header: map[string]string{"Content-Type": ct}})
			if resp.StatusCode != tc.status {
				t.Errorf("%s, %s: status %d, want %d: %.200s", ep.path, tc.name, resp.StatusCode, tc.status, resp.body)
				continue
			}
			p := resp.problem(t)
			field := tc.field
			if field != "" && ep.path == "/v1/jobs/batch" && tc.name != "unknown field" {
				field = "jobs[0]." + field
			}
			if p.Code != tc.code || p.Field != field {
				t.Errorf("%s, %s: code %q field %q, want %q %q", ep.path, tc.name, p.Code, p.Field, tc.code, field)
			}
		}
	}

	// A JSON media type with parameters or a +json suffix is JSON.
	for _, ct := range []string{"application/json; charset=utf-8", "application/vnd.gantry+json", "APPLICATION/JSON"} {
		e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: strings.NewReader(`{"kind":"k"}`), header: map[string]string{"Content-Type": ct}})
	}
	// No Content-Type at all is taken as JSON.
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: strings.NewReader(`{"kind":"k"}`)})
	// Query parameters on JSON routes are unknown fields.
	p := e.expect(http.StatusBadRequest, req{method: "POST", path: "/v1/jobs?kind=k", body: `{"kind":"k"}`}).problem(t)
	if p.Code != httpapi.CodeUnknownField || p.Field != "kind" {
		t.Errorf("query on a JSON enqueue: %+v", p)
	}
}

// TestStrictKeys: keys match field names exactly, and no object of a body,
// free JSON included, repeats a key.
func TestStrictKeys(t *testing.T) {
	e := setup(t, nil)
	j := e.enqueue(`{"kind":"k"}`)
	for _, tc := range []struct {
		path, body  string
		code, field string
	}{
		{"/v1/jobs", `{"KIND":"a","Queue":"q"}`, httpapi.CodeUnknownField, "KIND"},
		{"/v1/jobs", `{"kind":"a","Queue":"q"}`, httpapi.CodeUnknownField, "Queue"},
		{"/v1/jobs", `{"kind":"a","kind":"b"}`, httpapi.CodeInvalidJSON, "kind"},
		{"/v1/jobs", `{"kind":"a","args":{"w":1,"w":2}}`, httpapi.CodeInvalidJSON, "args.w"},
		{"/v1/jobs", `{"kind":"a","args":{"in":[{"x":1,"x":1}]}}`, httpapi.CodeInvalidJSON, "args.in[0].x"},
		{"/v1/jobs/batch", `{"jobs":[{"kind":"a"},{"kind":"a","Kind":"b"}]}`, httpapi.CodeUnknownField, "jobs[1].Kind"},
		{"/v1/jobs/batch", `{"jobs":[{"kind":"a"}],"jobs":[]}`, httpapi.CodeInvalidJSON, "jobs"},
		{"/v1/queues/default/lease", `{"max":1,"MAX":2}`, httpapi.CodeUnknownField, "MAX"},
		{"/v1/jobs/" + j.ID + "/heartbeat", `{"lease_token":"1.x","checkpoint":{"s":1,"s":2}}`, httpapi.CodeInvalidJSON, "checkpoint.s"},
		{"/v1/jobs/" + j.ID + "/complete", `{"lease_token":"1.x","result":{"r":1,"r":1}}`, httpapi.CodeInvalidJSON, "result.r"},
		{"/v1/jobs/" + j.ID + "/fail", `{"lease_token":"1.x","Error":"e"}`, httpapi.CodeUnknownField, "Error"},
	} {
		resp := e.do(req{method: "POST", path: tc.path, body: strings.NewReader(tc.body), header: map[string]string{"Content-Type": "application/json"}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s: status %d, want 400: %.200s", tc.path, tc.body, resp.StatusCode, resp.body)
			continue
		}
		if p := resp.problem(t); p.Code != tc.code || p.Field != tc.field || !strings.Contains(p.Detail, tc.field) {
			t.Errorf("%s %s: problem %+v, want code %s naming %s", tc.path, tc.body, p, tc.code, tc.field)
		}
	}
	// Keys in free JSON may differ in case only.
	e.expect(http.StatusAccepted, req{method: "POST", path: "/v1/jobs", body: strings.NewReader(`{"kind":"a","args":{"W":1,"w":2}}`)})
}

// TestZeroIsNotTheDefault: a priority or max_attempts that is sent must be
// in range; only an absent one means the default.
func TestZeroIsNotTheDefault(t *testing.T) {
	e := setup(t, nil)
	for _, tc := range []struct {
		path, body, contentType, field string
	}{
		{"/v1/jobs", `{"kind":"a","priority":0}`, "application/json", "priority"},
		{"/v1/jobs", `{"kind":"a","max_attempts":0}`, "application/json", "max_attempts"},
		{"/v1/jobs", `{"kind":"a","priority":10}`, "application/json", "priority"},
		{"/v1/jobs", `{"kind":"a","max_attempts":-1}`, "application/json", "max_attempts"},
		{"/v1/jobs/batch", `{"jobs":[{"kind":"a"},{"kind":"a","priority":0}]}`, "application/json", "jobs[1].priority"},
		{"/v1/jobs?kind=a&priority=0", `payload`, "application/octet-stream", "priority"},
		{"/v1/jobs?kind=a&max_attempts=0", `payload`, "application/octet-stream", "max_attempts"},
	} {
		resp := e.do(req{method: "POST", path: tc.path, body: strings.NewReader(tc.body), header: map[string]string{"Content-Type": tc.contentType}})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s %s: status %d, want 422: %.200s", tc.path, tc.body, resp.StatusCode, resp.body)
			continue
		}
		if p := resp.problem(t); p.Code != httpapi.CodeInvalidField || p.Field != tc.field {
			t.Errorf("%s %s: problem %+v, want invalid_field naming %s", tc.path, tc.body, p, tc.field)
		}
	}
	// Absent means the defaults.
	j := e.enqueue(`{"kind":"a"}`)
	if j.Priority != 5 || j.MaxAttempts != 20 {
		t.Errorf("defaults: priority %d, max_attempts %d", j.Priority, j.MaxAttempts)
	}
}
