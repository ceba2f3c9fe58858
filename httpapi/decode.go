package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/jsonkeys"
)

// mediaType returns the media type of the request body, lower-cased and
// without parameters; "" when the header is absent. A header that does not
// parse is answered with 415.
func mediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", problemf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"the Content-Type %q does not parse; send application/json", truncate(ct, 100))
	}
	return mt, nil
}

func isJSONType(mt string) bool {
	return mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json")
}

const formType = "application/x-www-form-urlencoded"

// errForm answers form bodies, curl -d's default.
func errForm() *apiError {
	return problemf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
		"form bodies (application/x-www-form-urlencoded, curl -d's default) are not accepted: send JSON with "+
			"Content-Type: application/json, for example curl --json '{\"kind\":\"...\"}'")
}

// readJSON reads a JSON request body whole, at most limit bytes, and checks
// that it is UTF-8 and not nested deeper than MaxJSONDepth. An empty body is
// returned as nil when allowEmpty, and refused otherwise.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, allowEmpty bool) ([]byte, error) {
	mt, err := mediaType(r)
	if err != nil {
		return nil, err
	}
	switch {
	case mt == formType || mt == "multipart/form-data":
		return nil, errForm()
	case !isJSONType(mt):
		return nil, problemf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"the Content-Type %q is not accepted here; send application/json", mt)
	}
	if r.ContentLength > limit {
		return nil, problemf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the body is larger than %d bytes", limit)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, problemf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the body is larger than %d bytes", limit)
		}
		return nil, problemf(http.StatusBadRequest, CodeInvalidJSON, "the body could not be read").withCause(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if allowEmpty {
			return nil, nil
		}
		return nil, problemf(http.StatusBadRequest, CodeInvalidJSON, "the body is empty; send a JSON object")
	}
	if err := checkJSONText(data); err != nil {
		return nil, err
	}
	return data, nil
}

// checkJSONText refuses bodies that are not UTF-8 or that nest arrays and
// objects deeper than MaxJSONDepth, before any decoding.
func checkJSONText(data []byte) error {
	if !utf8.Valid(data) {
		return problemf(http.StatusBadRequest, CodeInvalidJSON, "the body is not valid UTF-8")
	}
	depth, inString, escaped := 0, false, false
	for i, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > MaxJSONDepth {
				return problemf(http.StatusBadRequest, CodeInvalidJSON,
					"the body nests arrays and objects deeper than %d levels (at offset %d)", MaxJSONDepth, i)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data. Errors are problems naming the field, prefixed with
// prefix (e.g. "jobs[3].").
//
// Before decoding it refuses what encoding/json would let through: a key
// repeated in any object (args, result and checkpoint included), and a key
// that names a field in another case ("KIND" for "kind"). A body that is
// not a JSON object (null, an array) is refused too.
func decodeStrict(data []byte, v any, prefix string) error {
	where := strings.TrimSuffix(prefix, ".")
	if where == "" {
		where = "the body"
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] != '{' {
		if prefix != "" {
			return badField(where, "%s must be a JSON object, not %s", where, jsonTextKind(t))
		}
		return problemf(http.StatusBadRequest, CodeInvalidJSON, "the body must be a JSON object, not %s", jsonTextKind(t))
	}
	if err := jsonkeys.Check(data, reflect.TypeOf(v), prefix); err != nil {
		return keyError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, prefix)
	}
	if _, err := dec.Token(); err != io.EOF {
		return problemf(http.StatusBadRequest, CodeInvalidJSON, "%s has data after its JSON value", where)
	}
	return nil
}

// keyError maps a *jsonkeys.Error to a problem naming the key.
func keyError(err error) *apiError {
	var ke *jsonkeys.Error
	if !errors.As(err, &ke) {
		return problemf(http.StatusBadRequest, CodeInvalidJSON, "the body is not acceptable JSON").withCause(err)
	}
	var e *apiError
	switch {
	case ke.Duplicate:
		e = problemf(http.StatusBadRequest, CodeInvalidJSON, "the key %q appears twice in one object", truncate(ke.Path, 200))
	case ke.Suggest != "":
		e = problemf(http.StatusBadRequest, CodeUnknownField, "unknown field %q: field names are case-sensitive; did you mean %q?",
			truncate(ke.Path, 200), ke.Suggest)
	default:
		e = problemf(http.StatusBadRequest, CodeUnknownField, "unknown field %q", truncate(ke.Path, 200))
	}
	e.p.Field = truncate(ke.Path, 200)
	return e
}

// jsonTextKind names the kind of JSON value that text starts with.
func jsonTextKind(text []byte) string {
	switch text[0] {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// jsonError maps an encoding/json error to a problem.
func jsonError(err error, prefix string) *apiError {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return problemf(http.StatusBadRequest, CodeInvalidJSON, "malformed JSON at offset %d: %s",
			se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return problemf(http.StatusBadRequest, CodeInvalidJSON, "the JSON ends too early")
	case errors.As(err, &te):
		field := prefix + te.Field
		field = strings.TrimSuffix(field, ".")
		if field == "" {
			return problemf(http.StatusBadRequest, CodeInvalidJSON, "the body must be a JSON object, not %s", jsonKind(te.Value))
		}
		return badField(field, "%s must be %s, not %s", field, jsonTypeName(te.Type.String()), jsonKind(te.Value))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, uerr := strconv.Unquote(name); uerr == nil {
			name = n
		}
		field := prefix + name
		e := problemf(http.StatusBadRequest, CodeUnknownField, "unknown field %q", field)
		e.p.Field = field
		return e
	}
	return problemf(http.StatusBadRequest, CodeInvalidJSON, "the body is not acceptable JSON").withCause(err)
}

// jsonKind names the JSON value kind encoding/json reports in Value.
func jsonKind(v string) string {
	switch {
	case v == "":
		return "this value"
	case strings.HasPrefix(v, "number"):
		return "a number"
	case v == "bool":
		return "a boolean"
	case v == "string":
		return "a string"
	case v == "array":
		return "an array"
	case v == "object":
		return "an object"
	}
	return v
}

// jsonTypeName names the JSON type a Go type decodes from.
func jsonTypeName(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "bool", "*bool":
		return "a boolean"
	case "[]string":
		return "an array of strings"
	case "*int":
		return "an integer"
	}
	if strings.HasPrefix(goType, "[]") {
		return "an array"
	}
	if strings.HasPrefix(goType, "map[") || strings.Contains(goType, "httpapi.") {
		return "an object"
	}
	return "a " + goType
}

// parseDuration parses a Go duration string ("30s", "2m") of a field. An
// empty string is zero.
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badField(field, "%s must be a duration such as \"30s\" or \"2m\", not %q", field, truncate(s, 40))
	}
	return d, nil
}

// parseWait parses a wait query parameter: a duration ("30s") or whole
// seconds ("30"). It must not be negative; it is capped at MaxWait.
func parseWait(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		d = time.Duration(min(n, int64(MaxWait/time.Second))) * time.Second
	} else if d, err = parseDuration(field, s); err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, badField(field, "%s must not be negative", field)
	}
	return min(d, MaxWait), nil
}

// parseTime parses an RFC 3339 time of a field. An empty string is zero.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badField(field, "%s must be an RFC 3339 time such as \"2026-11-22T10:00:00Z\", not %q", field, truncate(s, 40))
	}
	return t, nil
}

// queryValues parses the query and refuses parameters not in allowed, and
// repeated parameters unless repeatable.
func queryValues(r *http.Request, allowed []string, repeatable ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, problemf(http.StatusBadRequest, CodeInvalidField, "the query string does not parse")
	}
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			e := problemf(http.StatusBadRequest, CodeUnknownField, "unknown query parameter %q", truncate(k, 64))
			e.p.Field = truncate(k, 64)
			return nil, e
		}
		if len(vs) > 1 && !slices.Contains(repeatable, k) {
			return nil, badField(k, "%s is given more than once", k)
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, badField(k, "%s is not valid UTF-8", k)
			}
		}
	}
	return q, nil
}

// queryInt parses an integer query parameter; absent is zero.
func queryInt(q url.Values, name string) (int, error) {
	n, err := queryOptInt(q, name)
	if n == nil {
		return 0, err
	}
	return *n, nil
}

// queryOptInt parses an integer query parameter; absent is nil.
func queryOptInt(q url.Values, name string) (*int, error) {
	s := q.Get(name)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, badField(name, "%s must be an integer, not %q", name, truncate(s, 40))
	}
	return &n, nil
}

// truncate cuts s to at most n bytes at a rune boundary, for echoing
// client input in a detail.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
