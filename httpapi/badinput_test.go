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
