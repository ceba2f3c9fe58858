package httpapi_test

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/embedded"
)

// These tests keep api/openapi.yaml true to the router: the document is
// well formed, every operation in it is served by the route of the same
// pattern with the scope it declares, every route the server registers is
// in it, and its schemas have the fields of the Go types they describe.

const openAPIFile = "../api/openapi.yaml"

// servedByExtension marks operations served by another package (the
// binary's /metrics): the extension's value names that package's directory.
const servedByExtension = "x-gantry-served-by"

// goTypeExtension marks a schema with the name of the httpapi type it
// describes, for TestOpenAPISchemasMatchTypes. It is Gantry's own key: the
// x-go-type of oapi-codegen means "use this existing Go type" and would make
// generated clients refer to types they do not have.
const goTypeExtension = "x-gantry-go-type"

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is one (method, path) of the document.
type operation struct {
	method   string // upper case
	path     string
	op       map[string]any
	servedBy string // "" for httpapi
}

func (o operation) pattern() string { return o.method + " " + o.path }

// scopes returns the scopes the operation's security requirements list
// for the bearer scheme, and whether it needs no token at all.
func (o operation) scopes(doc map[string]any) (scopes []string, open bool) {
	sec, ok := o.op["security"]
	if !ok {
		sec = doc["security"]
	}
	reqs, _ := sec.([]any)
	if len(reqs) == 0 {
		return nil, true
	}
	for _, r := range reqs {
		m, _ := r.(map[string]any)
		if len(m) == 0 {
			return nil, true // {} is "no token needed"
		}
		for _, s := range asSlice(m["bearer"]) {
			scopes = append(scopes, fmt.Sprint(s))
		}
	}
	return scopes, false
}

func loadOpenAPI(t *testing.T) (map[string]any, []operation) {
	t.Helper()
	data, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s does not parse: %v", openAPIFile, err)
	}
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatalf("%s has no paths", openAPIFile)
	}
	var ops []operation
	for path, item := range paths {
		pi, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", path)
		}
		for _, m := range httpMethods {
			op, ok := pi[m].(map[string]any)
			if !ok {
				continue
			}
			served, _ := op[servedByExtension].(string)
			ops = append(ops, operation{method: strings.ToUpper(m), path: path, op: op, servedBy: served})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].pattern() < ops[j].pattern() })
	return doc, ops
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestOpenAPIDocument checks the document's own structure: the version,
// operations with ids and responses, declared path parameters, security
// schemes that exist, and $refs that resolve.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc, ops := loadOpenAPI(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi: %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Error("info needs a title and a version")
	}
	schemes, _ := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	if b, _ := schemes["bearer"].(map[string]any); b["type"] != "http" || b["scheme"] != "bearer" {
		t.Errorf("securitySchemes.bearer = %v, want an http bearer scheme", schemes["bearer"])
	}

	paths := doc["paths"].(map[string]any)
	ids := map[string]string{}
	for _, o := range ops {
		id, _ := o.op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", o.pattern())
		} else if prev, dup := ids[id]; dup {
			t.Errorf("operationId %q is used by %s and %s", id, prev, o.pattern())
		}
		ids[id] = o.pattern()

		responses, _ := o.op["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s has no responses", o.pattern())
		}
		for code := range responses {
			if n, err := strconv.Atoi(code); (err != nil || n < 100 || n > 599) && code != "default" {
				t.Errorf("%s: response %q is not a status code", o.pattern(), code)
			}
		}
		if _, open := o.scopes(doc); !open {
			for _, r := range asSlice(o.op["security"]) {
				for name := range r.(map[string]any) {
					if schemes[name] == nil {
						t.Errorf("%s: security scheme %q is not defined", o.pattern(), name)
					}
				}
			}
		}

		// Every {param} of the path is declared as a path parameter, on
		// the path item or the operation.
		declared := map[string]bool{}
		params := append(asSlice(paths[o.path].(map[string]any)["parameters"]), asSlice(o.op["parameters"])...)
		for _, p := range params {
			pm := resolve(t, doc, p)
			if pm["in"] == "path" {
				declared[fmt.Sprint(pm["name"])] = true
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v must be required", o.pattern(), pm["name"])
				}
			}
		}
		for _, seg := range strings.Split(o.path, "/") {
			if strings.HasPrefix(seg, "{") {
				name := strings.Trim(seg, "{}")
				if !declared[name] {
					t.Errorf("%s: path parameter %q is not declared", o.pattern(), name)
				}
				delete(declared, name)
			}
		}
		for name := range declared {
			t.Errorf("%s: path parameter %q is not in the path", o.pattern(), name)
		}
	}

	// Every $ref resolves.
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, err := lookupRef(doc, ref); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
			for k, c := range v {
				walk(where+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(where+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("#", doc)
}

// lookupRef resolves a local reference ("#/components/schemas/Job").
func lookupRef(doc map[string]any, ref string) (map[string]any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok || m[part] == nil {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		cur = m[part]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not an object", ref)
	}
	return m, nil
}

// resolve follows v's $ref, if it has one.
func resolve(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	for m != nil && m["$ref"] != nil {
		var err error
		if m, err = lookupRef(doc, m["$ref"].(string)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// routeServer is a server whose Observe hook reports the route pattern
// that served each request.
type routeServer struct {
	t   *testing.T
	api *httpapi.Server
	mu  sync.Mutex
	got string
}

// Tokens of routeServer: one per scope.
var scopeTokens = map[httpapi.Scope]string{
	httpapi.ScopeEnqueue: "tok-enqueue",
	httpapi.ScopeRead:    "tok-read",
	httpapi.ScopeWork:    "tok-work",
	httpapi.ScopeAdmin:   "tok-admin",
}

func newRouteServer(t *testing.T) *routeServer {
	t.Helper()
	st, err := embedded.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gantry.NewClient(st, &gantry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rs := &routeServer{t: t}
	var tokens []httpapi.Token
	for sc, v := range scopeTokens {
		tokens = append(tokens, httpapi.Token{Value: v, Scopes: []httpapi.Scope{sc}})
	}
	rs.api, err = httpapi.New(&httpapi.Config{
		Client: c,
		Tokens: tokens,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, "# no metrics\n")
		}),
		Observe: func(route string, _ int, _ time.Duration) {
			rs.mu.Lock()
			rs.got = route
			rs.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rs.api.Drain()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop client: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return rs
}

// serve sends a request for the operation's path, its parameters filled
// with samples, with the token (none if ""), and returns the route pattern
// that served it ("/" when none matched) and the status.
func (rs *routeServer) serve(method, path, token string) (string, int) {
	target := strings.NewReplacer("{id}", "01JSAMPLE", "{name}", "sample").Replace(path)
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	rs.api.ServeHTTP(w, r)
	checkResponse(rs.t, method, r.URL, w.Code, w.Header(), w.Body.Bytes())
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.got, w.Code
}

// TestOpenAPIOperationsServed checks that every operation of the document
// is served by the route with its pattern, and needs the scope its
// security lists: no token is 401, a token with every other scope but
// admin is 403, a token with the scope passes (and so does admin).
func TestOpenAPIOperationsServed(t *testing.T) {
	t.Parallel()
	doc, ops := loadOpenAPI(t)
	rs := newRouteServer(t)
	for _, o := range ops {
		if o.servedBy != "" {
			continue // TestOpenAPICoversRoutes finds it in its package.
		}
		route, status := rs.serve(o.method, o.path, scopeTokens[httpapi.ScopeAdmin])
		if route != o.pattern() {
			t.Errorf("%s is served by route %q (status %d), want %q", o.pattern(), route, status, o.pattern())
			continue
		}
		scopes, open := o.scopes(doc)
		if open {
			if _, status := rs.serve(o.method, o.path, ""); status == http.StatusUnauthorized || status == http.StatusForbidden {
				t.Errorf("%s: the document says no token is needed, but without one the status is %d", o.pattern(), status)
			}
			continue
		}
		if len(scopes) != 1 {
			t.Errorf("%s: security lists scopes %v, want exactly one", o.pattern(), scopes)
			continue
		}
		need := httpapi.Scope(scopes[0])
		if _, ok := scopeTokens[need]; !ok {
			t.Errorf("%s: unknown scope %q", o.pattern(), need)
			continue
		}
		if _, status := rs.serve(o.method, o.path, ""); status != http.StatusUnauthorized {
			t.Errorf("%s without a token: status %d, want 401", o.pattern(), status)
		}
		if _, status := rs.serve(o.method, o.path, scopeTokens[need]); status == http.StatusUnauthorized || status == http.StatusForbidden {
			t.Errorf("%s with a %q token: status %d, want the scope to be enough", o.pattern(), need, status)
		}
		for sc, tok := range scopeTokens {
			if sc == need || sc == httpapi.ScopeAdmin {
				continue
			}
			if _, status := rs.serve(o.method, o.path, tok); status != http.StatusForbidden {
				t.Errorf("%s with a %q token: status %d, want 403 (the document says it needs %q)", o.pattern(), sc, status, need)
			}
		}
	}
}

// registeredRoutes scrapes the route patterns registered in the non-test
// Go files of dir: the string literal first argument of every call to a
// method named handle, Handle or HandleFunc, except the catch-all "/".
// httpapi.Server does not expose its route table; a method such as
// Routes() []string would make this scrape unnecessary.
func registeredRoutes(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]string{} // pattern -> where
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !slices.Contains([]string{"handle", "Handle", "HandleFunc"}, sel.Sel.Name) {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, err := strconv.Unquote(lit.Value)
			if err != nil || pattern == "/" {
				return true
			}
			routes[pattern] = fset.Position(lit.Pos()).String()
			return true
		})
	}
	return routes
}

// TestOpenAPICoversRoutes checks that every route registered in httpapi
// (and those an operation's x-gantry-served-by names elsewhere) is in the
// document, and nothing else.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	_, ops := loadOpenAPI(t)
	want := map[string]map[string]string{ // package dir -> pattern -> where registered
		".": registeredRoutes(t, "."),
	}
	documented := map[string]map[string]bool{}
	for _, o := range ops {
		dir := "."
		if o.servedBy != "" {
			dir = filepath.Join("..", filepath.FromSlash(o.servedBy))
			if want[dir] == nil {
				want[dir] = registeredRoutes(t, dir)
			}
		}
		if documented[dir] == nil {
			documented[dir] = map[string]bool{}
		}
		documented[dir][o.pattern()] = true
	}
	if len(want["."]) < 10 {
		t.Fatalf("found only %d routes in httpapi's source; has the registration changed shape? %v", len(want["."]), want["."])
	}
	for dir, routes := range want {
		for pattern, where := range routes {
			method, _, ok := strings.Cut(pattern, " ")
			if !ok || method != strings.ToUpper(method) {
				t.Errorf("%s: route %q has no method; document it with its methods", where, pattern)
				continue
			}
			if !documented[dir][pattern] {
				t.Errorf("%s: route %q is not in %s", where, pattern, openAPIFile)
			}
		}
		for pattern := range documented[dir] {
			if _, ok := routes[pattern]; !ok {
				t.Errorf("%s documents %q, but %s registers no such route", openAPIFile, pattern, dir)
			}
		}
	}
}

// goTypes are the types that schemas name with x-gantry-go-type.
var goTypes = map[string]reflect.Type{
	"JobRequest":       reflect.TypeFor[httpapi.JobRequest](),
	"BatchRequest":     reflect.TypeFor[httpapi.BatchRequest](),
	"JobResource":      reflect.TypeFor[httpapi.JobResource](),
	"ProgressResource": reflect.TypeFor[httpapi.ProgressResource](),
	"AttemptResource":  reflect.TypeFor[httpapi.AttemptResource](),
	"BlobResource":     reflect.TypeFor[httpapi.BlobResource](),
	"JobList":          reflect.TypeFor[httpapi.JobList](),
	"JobBatch":         reflect.TypeFor[httpapi.JobBatch](),
	"JobSummary":       reflect.TypeFor[httpapi.JobSummary](),
	"LeaseRequest":     reflect.TypeFor[httpapi.LeaseRequest](),
	"LeasedJob":        reflect.TypeFor[httpapi.LeasedJob](),
	"LeaseResponse":    reflect.TypeFor[httpapi.LeaseResponse](),
	"HeartbeatRequest": reflect.TypeFor[httpapi.HeartbeatRequest](),
	"CompleteRequest":  reflect.TypeFor[httpapi.CompleteRequest](),
	"FailRequest":      reflect.TypeFor[httpapi.FailRequest](),
	"SnoozeRequest":    reflect.TypeFor[httpapi.SnoozeRequest](),
	"LimitsRequest":    reflect.TypeFor[httpapi.LimitsRequest](),
	"CancelRequest":    reflect.TypeFor[httpapi.CancelRequest](),
	"QueueResource":    reflect.TypeFor[httpapi.QueueResource](),
	"QueueLimits":      reflect.TypeFor[httpapi.QueueLimits](),
	"QueueList":        reflect.TypeFor[httpapi.QueueList](),
	"NodeResource":     reflect.TypeFor[httpapi.NodeResource](),
	"NodeList":         reflect.TypeFor[httpapi.NodeList](),
	"Health":           reflect.TypeFor[httpapi.Health](),
	"Problem":          reflect.TypeFor[httpapi.Problem](),

	"WorkflowRequest":    reflect.TypeFor[httpapi.WorkflowRequest](),
	"WorkflowJobRequest": reflect.TypeFor[httpapi.WorkflowJobRequest](),
	"WorkflowCreated":    reflect.TypeFor[httpapi.WorkflowCreated](),
	"WorkflowResource":   reflect.TypeFor[httpapi.WorkflowResource](),
	"WorkflowList":       reflect.TypeFor[httpapi.WorkflowList](),
	"SpawnRequest":       reflect.TypeFor[httpapi.SpawnRequest](),
	"SpawnResponse":      reflect.TypeFor[httpapi.SpawnResponse](),
}

// jsonFields lists the JSON members of a struct type, embedded structs
// flattened, and whether each is always present (no omitempty).
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = !slices.Contains(strings.Split(opts, ","), "omitempty")
	}
	return out
}

// schemaFields collects a schema's properties and required members,
// through allOf and $refs.
func schemaFields(t *testing.T, doc, s map[string]any, props map[string]bool, required map[string]bool) {
	t.Helper()
	s = resolve(t, doc, s)
	for _, sub := range asSlice(s["allOf"]) {
		schemaFields(t, doc, sub.(map[string]any), props, required)
	}
	if p, ok := s["properties"].(map[string]any); ok {
		for k := range p {
			props[k] = true
		}
	}
	for _, r := range asSlice(s["required"]) {
		required[fmt.Sprint(r)] = true
	}
}

// TestOpenAPISchemasMatchTypes checks that each schema with x-gantry-go-type has
// the JSON members of that type, and, for answers, lists as required
// exactly the members that are always present.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	seen := map[string]bool{}
	for name, s := range schemas {
		sm := s.(map[string]any)
		goName, ok := sm[goTypeExtension].(string)
		if !ok {
			continue
		}
		typ, ok := goTypes[goName]
		if !ok {
			t.Errorf("schema %s: x-gantry-go-type %q is not in this test's goTypes", name, goName)
			continue
		}
		seen[goName] = true
		props, required := map[string]bool{}, map[string]bool{}
		schemaFields(t, doc, sm, props, required)
		fields := jsonFields(typ)
		for f := range fields {
			if !props[f] {
				t.Errorf("schema %s lacks %s's member %q", name, typ, f)
			}
		}
		for p := range props {
			if _, ok := fields[p]; !ok {
				t.Errorf("schema %s has %q, which %s does not", name, p, typ)
			}
		}
		if strings.HasSuffix(goName, "Request") {
			continue // Required members of a request are a matter of validation.
		}
		for f, always := range fields {
			if always != required[f] {
				t.Errorf("schema %s: %q required=%v, but %s always sends it=%v", name, f, required[f], typ, always)
			}
		}
	}
	for goName := range goTypes {
		if !seen[goName] {
			t.Errorf("no schema has x-gantry-go-type %s", goName)
		}
	}
}

// TestOpenAPIEnums checks the enums of states and problem codes against
// the code: store.States, and the Code* constants of httpapi.
func TestOpenAPIEnums(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	enum := func(name string) []string {
		var out []string
		for _, v := range asSlice(schemas[name].(map[string]any)["enum"]) {
			out = append(out, fmt.Sprint(v))
		}
		sort.Strings(out)
		return out
	}

	var states []string
	for _, s := range store.States {
		states = append(states, string(s))
	}
	sort.Strings(states)
	if got := enum("State"); !slices.Equal(got, states) {
		t.Errorf("State enum %v, want %v", got, states)
	}

	// The Code* constants, read from the source: constants cannot be
	// listed by reflection.
	f, err := parser.ParseFile(token.NewFileSet(), "problem.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "Code") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					codes = append(codes, v)
				}
			}
		}
	}
	sort.Strings(codes)
	if len(codes) < 10 {
		t.Fatalf("found only %d Code* constants in problem.go: %v", len(codes), codes)
	}
	if got := enum("ProblemCode"); !slices.Equal(got, codes) {
		t.Errorf("ProblemCode enum %v, want the Code* constants %v", got, codes)
	}
}
