package jsonkeys

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type job struct {
	Kind      string          `json:"kind"`
	Queue     string          `json:"queue,omitempty"`
	Args      json.RawMessage `json:"args,omitempty"`
	Priority  *int            `json:"priority,omitempty"`
	DependsOn []string        `json:"depends_on,omitempty"`
	Skipped   string          `json:"-"`
	Untagged  int
}

type batch struct {
	Jobs []job `json:"jobs"`
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		into       any
		prefix     string
		path       string // "" means accepted
		dup        bool
		suggest    string
	}{
		{name: "plain", body: `{"kind":"a","queue":"q","args":{"x":[1,{"y":2}]},"priority":3}`, into: job{}},
		{name: "empty objects", body: ` { } `, into: job{}},
		{name: "untagged field", body: `{"Untagged":1}`, into: job{}},
		{name: "upper case key", body: `{"KIND":"a"}`, into: job{}, path: "KIND", suggest: "kind"},
		{name: "mixed case key", body: `{"kind":"a","Queue":"q"}`, into: job{}, path: "Queue", suggest: "queue"},
		{name: "unknown key", body: `{"kind":"a","colour":"red"}`, into: job{}, path: "colour"},
		{name: "dash field", body: `{"Skipped":"x"}`, into: job{}, path: "Skipped"},
		{name: "duplicate key", body: `{"kind":"a","kind":"b"}`, into: job{}, path: "kind", dup: true},
		{name: "duplicate escaped", body: `{"kind":"a","\u006bind":"b"}`, into: job{}, path: "kind", dup: true},
		{name: "duplicate in args", body: `{"kind":"a","args":{"w":1,"w":2}}`, into: job{}, path: "args.w", dup: true},
		{name: "duplicate deep in args", body: `{"args":{"a":[{"b":1},{"b":1,"b":2}]}}`, into: job{}, path: "args.a[1].b", dup: true},
		{name: "case in free args is fine", body: `{"args":{"W":1,"w":2}}`, into: job{}},
		{name: "batch element", body: `{"jobs":[{"kind":"a"},{"Kind":"b"}]}`, into: batch{}, path: "jobs[1].Kind", suggest: "kind"},
		{name: "prefix", body: `{"kind":"a","kind":"a"}`, into: job{}, prefix: "jobs[3].", path: "jobs[3].kind", dup: true},
		{name: "map", body: `{"a":{"kind":"x"},"a":{}}`, into: map[string]job{}, path: "a", dup: true},
		{name: "map values are structs", body: `{"a":{"KIND":"x"}}`, into: map[string]job{}, path: "a.KIND", suggest: "kind"},
		{name: "many keys", body: manyKeys(40, true), into: map[string]int{}, path: "k39", dup: true},
		{name: "many distinct keys", body: manyKeys(40, false), into: map[string]int{}},
		{name: "syntax error is left to the decoder", body: `{"kind":`, into: job{}},
		{name: "not an object", body: `[1,2]`, into: job{}},
		{name: "string with escapes", body: `{"kind":"a\"b\\","queue":"q"}`, into: job{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Check([]byte(tc.body), reflect.TypeOf(tc.into), tc.prefix)
			if tc.path == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("Check = %v, want an *Error at %s", err, tc.path)
			}
			if ke.Path != tc.path || ke.Duplicate != tc.dup || ke.Suggest != tc.suggest {
				t.Errorf("Check = %+v, want path %s duplicate %v suggest %q", ke, tc.path, tc.dup, tc.suggest)
			}
		})
	}
}

func manyKeys(n int, dupLast bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":1`)
	}
	if dupLast {
		b.WriteString(`,"k` + strconv.Itoa(n-1) + `":2`)
	}
	b.WriteString("}")
	return b.String()
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"kind":"a","args":{"x":[1,{"y":2}]}}`))
	f.Add([]byte(`{"jobs":[{"kind":"a"},{"KIND":"b","kind":"c"}]}`))
	f.Add([]byte(`{"a\u0062":1,"ab":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data, reflect.TypeFor[batch](), "")
		if err == nil || !json.Valid(data) {
			return
		}
		// What Check refuses in valid JSON is a duplicate or a wrong name,
		// and a wrong name is never one of the batch type's own fields.
		var ke *Error
		if !errors.As(err, &ke) {
			t.Fatalf("Check = %v, not an *Error", err)
		}
		if !ke.Duplicate && (ke.Path == "jobs" || strings.HasPrefix(ke.Path, "jobs[") && strings.Count(ke.Path, ".") == 1 &&
			(ke.Key == "kind" || ke.Key == "args" || ke.Key == "queue")) {
			t.Fatalf("Check refused the known field %q at %s", ke.Key, ke.Path)
		}
	})
}

func BenchmarkCheckJob(b *testing.B) {
	body := []byte(`{"kind":"thumbnail","queue":"images","args":{"width":256,"height":256,"src":"s3://bucket/key.png"},"priority":2,"depends_on":["a","b"]}`)
	typ := reflect.TypeFor[job]()
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(body, typ, ""); err != nil {
			b.Fatal(err)
		}
	}
}
