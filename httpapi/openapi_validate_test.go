package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Every answer the tests of this package see is checked against
// api/openapi.yaml: the status is one the operation documents, the
// Content-Type is one it documents for that status, its required headers are
// there, and a JSON body (each event's data, for an event stream) is valid
// against the schema. The checker knows the subset of JSON Schema that the
// document uses and refuses any other keyword, so that a schema it cannot
// check fails instead of passing unchecked. TestMain fails a whole run of the
// package that validated fewer than minValidatedResponses answers, so the
// check cannot silently stop checking.

// minValidatedResponses is the floor of validated answers for a run of the
// whole package (no -run or -skip): a full run validates about 730.
const minValidatedResponses = 600

// validatedResponses counts the answers checked against the document.
var validatedResponses atomic.Int64

// checkValidatedResponses is the verdict of TestMain on the count.
func checkValidatedResponses() error {
	n := validatedResponses.Load()
	filtered := false
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			filtered = true
		}
	}
	if filtered {
		return nil
	}
	fmt.Fprintf(os.Stderr, "httpapi: %d answers validated against %s\n", n, openAPIFile)
	if n < minValidatedResponses {
		return fmt.Errorf("httpapi: only %d answers were validated against %s, want at least %d: is the validation still wired into the tests' requests?",
			n, openAPIFile, minValidatedResponses)
	}
	return nil
}

// spec is the document, decoded once for all tests.
var spec = sync.OnceValues(func() (map[string]any, error) {
	data, err := os.ReadFile(openAPIFile)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", openAPIFile, err)
	}
	return doc, nil
})

// findOperation returns the operation of the document that serves method
// and path (HEAD is served by GET), or nil.
func findOperation(doc map[string]any, method, path string) map[string]any {
	paths, _ := doc["paths"].(map[string]any)
	m := strings.ToLower(method)
	if m == "head" {
		m = "get"
	}
	segs := strings.Split(path, "/")
	var best map[string]any
	bestLiterals := -1
	for tmpl, item := range paths {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i, t := range ts {
			switch {
			case strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}"):
				ok = ok && segs[i] != ""
			case t == segs[i]:
				literals++
			default:
				ok = false
			}
		}
		pi, _ := item.(map[string]any)
		op, found := pi[m].(map[string]any)
		if ok && found && literals > bestLiterals {
			best, bestLiterals = op, literals
		}
	}
	return best
}

// checkResponse validates one answer against the document and reports
// every mismatch as a test error. body is nil for a streamed body that
// the caller checks by other means (checkEvents).
func checkResponse(t testing.TB, method string, u *url.URL, status int, header http.Header, body []byte) {
	t.Helper()
	validatedResponses.Add(1)
	for _, msg := range responseProblems(method, u, status, header, body) {
		t.Errorf("%s %s: answer %d does not match %s: %s", method, u.Path, status, openAPIFile, msg)
	}
}

func responseProblems(method string, u *url.URL, status int, header http.Header, body []byte) []string {
	doc, err := spec()
	if err != nil {
		return []string{err.Error()}
	}
	var resp map[string]any
	// Segments are split as the router splits them: on the slashes of the
	// escaped path, so that a parameter holding "%2F" stays one segment.
	// A path with ".", ".." or empty segments has no operation, whatever it
	// would match: the server answers it 404 (info.description).
	if op := findOperation(doc, method, u.EscapedPath()); op != nil && !uncleanPath(u.Path) {
		responses, _ := op["responses"].(map[string]any)
		r, ok := responses[strconv.Itoa(status)]
		if !ok {
			r, ok = responses[strconv.Itoa(status/100)+"XX"]
		}
		if !ok {
			r, ok = responses["default"]
		}
		if !ok {
			return []string{fmt.Sprintf("status %d is not documented for %s %s", status, method, u.Path)}
		}
		var err error
		if resp, err = deref(doc, r); err != nil {
			return []string{err.Error()}
		}
	} else {
		// The document says (info.description) that a path without an
		// operation is 404 and a method a path does not serve is 405,
		// both problems.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return []string{fmt.Sprintf("no operation of the document serves %s %s, but the status is %d, not 404 or 405", method, u.Path, status)}
		}
		ref := "#/components/responses/MethodNotAllowed"
		if status == http.StatusNotFound {
			ref = "#/components/responses/NotFound"
		}
		var err error
		if resp, err = lookupRef(doc, ref); err != nil {
			return []string{err.Error()}
		}
	}

	var out []string
	headers, _ := resp["headers"].(map[string]any)
	for name, h := range headers {
		hm, err := deref(doc, h)
		if err != nil {
			out = append(out, err.Error())
		} else if hm["required"] == true && header.Get(name) == "" {
			out = append(out, fmt.Sprintf("the required header %s is missing", name))
		}
	}

	content, _ := resp["content"].(map[string]any)
	ct := header.Get("Content-Type")
	if len(content) == 0 {
		if len(body) > 0 {
			out = append(out, fmt.Sprintf("the document gives no content for status %d, but the body is %q", status, truncateBody(body)))
		}
		return out
	}
	if method == http.MethodHead {
		return out
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return append(out, fmt.Sprintf("Content-Type %q does not parse", ct))
	}
	media, ok := content[mt]
	if !ok {
		media, ok = content[strings.SplitN(mt, "/", 2)[0]+"/*"]
	}
	if !ok {
		media, ok = content["*/*"]
	}
	if !ok {
		keys := make([]string, 0, len(content))
		for k := range content {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return append(out, fmt.Sprintf("Content-Type %q is not one of %v", ct, keys))
	}
	if body == nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return out
	}
	mm, _ := media.(map[string]any)
	schema, ok := mm["schema"]
	if !ok {
		return out
	}
	v, err := decodeJSON(body)
	if err != nil {
		return append(out, fmt.Sprintf("the body is not JSON (%v): %q", err, truncateBody(body)))
	}
	for _, msg := range validate(doc, schema, v, "body") {
		out = append(out, msg+"; body "+truncateBody(body))
	}
	return out
}

func truncateBody(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// deref follows a $ref chain to the object it names.
func deref(doc map[string]any, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%v is not an object", v)
	}
	for i := 0; m["$ref"] != nil; i++ {
		ref, _ := m["$ref"].(string)
		var err error
		if m, err = lookupRef(doc, ref); err != nil {
			return nil, err
		}
		if i > 32 {
			return nil, fmt.Errorf("$ref %q loops", ref)
		}
	}
	return m, nil
}

// schemaAnnotations are keywords that do not constrain a value.
var schemaAnnotations = map[string]bool{
	"description": true, "examples": true, "example": true, "title": true, "default": true,
	"contentMediaType": true, goTypeExtension: true, "deprecated": true, "readOnly": true, "writeOnly": true,
}

var patterns sync.Map // pattern -> *regexp.Regexp

// validate checks v (decoded with UseNumber) against schema, returning
// one message per mismatch, each naming where in the value it is.
func validate(doc map[string]any, schema any, v any, where string) []string {
	if b, ok := schema.(bool); ok {
		if !b {
			return []string{where + ": no value is allowed here"}
		}
		return nil
	}
	s, ok := schema.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: the schema %v is not an object", where, schema)}
	}
	var out []string
	fail := func(format string, args ...any) { out = append(out, where+": "+fmt.Sprintf(format, args...)) }
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys) // messages in a stable order
	for _, k := range keys {
		kv := s[k]
		switch k {
		case "$ref":
			target, err := deref(doc, s)
			if err != nil {
				fail("%v", err)
				continue
			}
			out = append(out, validate(doc, target, v, where)...)
		case "type":
			types := []string{}
			switch tv := kv.(type) {
			case string:
				types = append(types, tv)
			case []any:
				for _, x := range tv {
					types = append(types, fmt.Sprint(x))
				}
			}
			if !slices.ContainsFunc(types, func(t string) bool { return hasType(v, t) }) {
				fail("%s is not of type %v", jsonTypeOf(v), types)
			}
		case "enum":
			if !slices.ContainsFunc(kv.([]any), func(e any) bool { str, ok := v.(string); return ok && str == fmt.Sprint(e) }) {
				fail("%v is not one of %v", v, kv)
			}
		case "properties":
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			props, _ := kv.(map[string]any)
			for name, ps := range props {
				if pv, ok := obj[name]; ok {
					out = append(out, validate(doc, ps, pv, where+"."+name)...)
				}
			}
		case "required":
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			for _, r := range kv.([]any) {
				if _, ok := obj[fmt.Sprint(r)]; !ok {
					fail("the required member %q is missing", r)
				}
			}
		case "additionalProperties":
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			props, _ := s["properties"].(map[string]any)
			for name, pv := range obj {
				if _, known := props[name]; !known {
					out = append(out, validate(doc, kv, pv, where+"."+name)...)
				}
			}
		case "items":
			arr, ok := v.([]any)
			if !ok {
				continue
			}
			for i, x := range arr {
				out = append(out, validate(doc, kv, x, fmt.Sprintf("%s[%d]", where, i))...)
			}
		case "minItems", "maxItems":
			arr, ok := v.([]any)
			n, _ := kv.(int)
			if ok && (k == "minItems" && len(arr) < n || k == "maxItems" && len(arr) > n) {
				fail("%d items, %s is %d", len(arr), k, n)
			}
		case "minimum", "maximum":
			num, ok := v.(json.Number)
			if !ok {
				continue
			}
			f, _ := num.Float64()
			bound, _ := strconv.ParseFloat(fmt.Sprint(kv), 64)
			if k == "minimum" && f < bound || k == "maximum" && f > bound {
				fail("%s is out of bounds (%s %v)", num, k, kv)
			}
		case "minLength", "maxLength":
			str, ok := v.(string)
			n, _ := kv.(int)
			chars := utf8.RuneCountInString(str)
			if ok && (k == "minLength" && chars < n || k == "maxLength" && chars > n) {
				fail("%d characters, %s is %d", chars, k, n)
			}
		case "pattern":
			str, ok := v.(string)
			if !ok {
				continue
			}
			p := fmt.Sprint(kv)
			re, cached := patterns.Load(p)
			if !cached {
				compiled, err := regexp.Compile(p)
				if err != nil {
					fail("pattern %q does not compile: %v", p, err)
					continue
				}
				re, _ = patterns.LoadOrStore(p, compiled)
			}
			if !re.(*regexp.Regexp).MatchString(str) {
				fail("%q does not match %s", str, p)
			}
		case "format":
			str, isString := v.(string)
			switch kv {
			case "date-time":
				if _, err := time.Parse(time.RFC3339Nano, str); isString && err != nil {
					fail("%q is not an RFC 3339 date-time", str)
				}
			case "uri":
				if u, err := url.Parse(str); isString && (err != nil || !u.IsAbs()) {
					fail("%q is not an absolute URI", str)
				}
			case "int64":
				if num, ok := v.(json.Number); ok {
					if _, err := strconv.ParseInt(num.String(), 10, 64); err != nil {
						fail("%s is not an int64", num)
					}
				}
			case "double":
				if num, ok := v.(json.Number); ok {
					if f, err := num.Float64(); err != nil || math.IsInf(f, 0) {
						fail("%s is not a double", num)
					}
				}
			default:
				fail("the validator does not know format %v", kv)
			}
		case "allOf":
			for _, sub := range kv.([]any) {
				out = append(out, validate(doc, sub, v, where)...)
			}
		case "oneOf":
			var matched int
			var msgs []string
			for _, sub := range kv.([]any) {
				m := validate(doc, sub, v, where)
				if len(m) == 0 {
					matched++
				}
				msgs = append(msgs, m...)
			}
			if matched != 1 {
				fail("matches %d of the oneOf schemas, want 1: %v", matched, msgs)
			}
		default:
			if !schemaAnnotations[k] {
				fail("the validator does not know the keyword %q: teach it, or the document's schemas go unchecked", k)
			}
		}
	}
	return out
}

// hasType reports whether v, decoded with UseNumber, is of the JSON Schema
// type t.
func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f)
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return false
}

func jsonTypeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// validatingTransport checks every answer a test's HTTP client receives
// against the document. A JSON or text body is read whole and checked; an
// event stream is checked as it is read, each event's data against the job
// resource.
type validatingTransport struct {
	t    testing.TB
	base http.RoundTripper
}

func (vt *validatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := vt.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		checkResponse(vt.t, r.Method, r.URL, resp.StatusCode, resp.Header, nil)
		resp.Body = &eventChecker{t: vt.t, r: resp.Body, where: r.Method + " " + r.URL.Path}
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	checkResponse(vt.t, r.Method, r.URL, resp.StatusCode, resp.Header, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// eventChecker passes an event stream through, checking the data of each
// event, as it completes, against the job resource.
type eventChecker struct {
	t     testing.TB
	r     io.ReadCloser
	where string
	line  []byte
}

func (ec *eventChecker) Read(p []byte) (int, error) {
	n, err := ec.r.Read(p)
	ec.line = append(ec.line, p[:n]...)
	for {
		i := bytes.IndexByte(ec.line, '\n')
		if i < 0 {
			break
		}
		ec.checkLine(ec.line[:i])
		ec.line = ec.line[i+1:]
	}
	return n, err
}

func (ec *eventChecker) checkLine(line []byte) {
	data, ok := bytes.CutPrefix(line, []byte("data: "))
	if !ok {
		return
	}
	doc, err := spec()
	if err != nil {
		ec.t.Error(err)
		return
	}
	validatedResponses.Add(1)
	v, err := decodeJSON(data)
	if err != nil {
		ec.t.Errorf("%s: event data is not JSON (%v): %s", ec.where, err, data)
		return
	}
	for _, msg := range validate(doc, map[string]any{"$ref": "#/components/schemas/JobResource"}, v, "data") {
		ec.t.Errorf("%s: event data does not match the job resource of %s: %s", ec.where, openAPIFile, msg)
	}
}

func (ec *eventChecker) Close() error { return ec.r.Close() }

// TestResponseValidatorRejects checks the checker itself: answers that
// break the document in each way it checks are refused.
func TestResponseValidatorRejects(t *testing.T) {
	t.Parallel()
	job := `{"id":"a","kind":"k","queue":"default","state":"available","args":{},"priority":5,"attempt":0,` +
		`"max_attempts":20,"run_at":"2026-01-01T00:00:00Z","created_at":"2026-01-01T00:00:00Z","started_at":null,` +
		`"finished_at":null,"progress":null,"result":null,"errors":[],"depends_on":[],"parent_id":null,"workflow_id":null,"ref":null,"blob":null}`
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	u := func(s string) *url.URL {
		p, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if msgs := responseProblems("GET", u("/v1/jobs/a"), 200, jsonCT, []byte(job)); len(msgs) != 0 {
		t.Fatalf("a valid job is refused: %v", msgs)
	}
	bad := []struct {
		name   string
		method string
		path   string
		status int
		header http.Header
		body   string
	}{
		{"undocumented status", "GET", "/v1/jobs/a", 418, jsonCT, job},
		{"wrong media type", "GET", "/v1/jobs/a", 200, http.Header{"Content-Type": {"text/html"}}, job},
		{"missing member", "GET", "/v1/jobs/a", 200, jsonCT, strings.Replace(job, `"kind":"k",`, "", 1)},
		{"bad enum", "GET", "/v1/jobs/a", 200, jsonCT, strings.Replace(job, `"available"`, `"sleeping"`, 1)},
		{"bad type", "GET", "/v1/jobs/a", 200, jsonCT, strings.Replace(job, `"priority":5`, `"priority":"5"`, 1)},
		{"not an integer", "GET", "/v1/jobs/a", 200, jsonCT, strings.Replace(job, `"priority":5`, `"priority":5.5`, 1)},
		{"out of bounds", "GET", "/v1/jobs/a", 200, jsonCT, strings.Replace(job, `"priority":5`, `"priority":10`, 1)},
		{"bad date-time", "GET", "/v1/jobs/a", 200, jsonCT, strings.Replace(job, `"run_at":"2026-01-01T00:00:00Z"`, `"run_at":"yesterday"`, 1)},
		{"bad pattern", "GET", "/v1/jobs/a", 200, jsonCT, strings.Replace(job, `"kind":"k"`, `"kind":"k k"`, 1)},
		{"oneOf matches none", "GET", "/v1/jobs/a", 200, jsonCT, strings.Replace(job, `"progress":null`, `"progress":{"percent":101,"message":""}`, 1)},
		{"not JSON", "GET", "/v1/jobs/a", 200, jsonCT, `{"id":`},
		{"problem without code", "GET", "/v1/jobs/a", 404, http.Header{"Content-Type": {"application/problem+json"}}, `{"type":"x","title":"t","status":404}`},
		{"405 without Allow", "PUT", "/v1/jobs/a", 405, http.Header{"Content-Type": {"application/problem+json"}},
			`{"type":"https://gantry.dev/problems/method_not_allowed","title":"t","status":405,"code":"method_not_allowed"}`},
		{"unknown path, not 404", "GET", "/v2/nothing", 200, jsonCT, `{}`},
		{"counts lack a state", "GET", "/v1/queues", 200, jsonCT,
			`{"queues":[{"name":"q","paused":false,"counts":{"waiting":0},"oldest_available_at":null,"limits":{"max_pending":null},"drain_rate":null}]}`},
		{"body where none is documented", "GET", "/v1/jobs/a/blob", 304, http.Header{}, "x"},
	}
	for _, c := range bad {
		if msgs := responseProblems(c.method, u(c.path), c.status, c.header, []byte(c.body)); len(msgs) == 0 {
			t.Errorf("%s: the checker accepts it", c.name)
		}
	}
	doc, err := spec()
	if err != nil {
		t.Fatal(err)
	}
	if msgs := validate(doc, map[string]any{"type": "string", "x-unknown-keyword": 1}, "s", "v"); len(msgs) == 0 {
		t.Error("an unknown schema keyword is ignored, not refused")
	}
	var sse bytes.Buffer
	fmt.Fprintf(&sse, "id: 1\nevent: state\ndata: %s\n\n", strings.Replace(job, `"kind":"k",`, "", 1))
	rec := &recordingTB{TB: t}
	ec := &eventChecker{t: rec, r: io.NopCloser(&sse), where: "events"}
	if _, err := io.Copy(io.Discard, bufio.NewReader(ec)); err != nil {
		t.Fatal(err)
	}
	if rec.errors == 0 {
		t.Error("event data without a kind is accepted")
	}
}

// recordingTB counts the errors reported to it instead of failing.
type recordingTB struct {
	testing.TB
	errors int
}

func (r *recordingTB) Errorf(string, ...any) { r.errors++ }
func (r *recordingTB) Error(...any)          { r.errors++ }
func (r *recordingTB) Helper()               {}

// CloseIdleConnections closes the idle connections of the base transport.
func (vt *validatingTransport) CloseIdleConnections() {
	if c, ok := vt.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// uncleanPath reports whether p has ".", ".." or empty segments.
func uncleanPath(p string) bool {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." || (seg == "" && i < len(segs)-1) {
			return true
		}
	}
	return false
}
