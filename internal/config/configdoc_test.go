package config

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The reference of every setting and the example config file, checked
// against the real configuration so that neither can drift from it.
const (
	docPath     = "../../docs/configuration.md"
	examplePath = "../../examples/gantry.json"
)

// docRow is one row of a table of docs/configuration.md.
type docRow struct {
	line             int
	flag, key, deflt string
	env              []string
}

// readDoc returns the rows of the settings table (flag, environment, file
// key, default, meaning) and of the queues table (file key, default,
// meaning) of docs/configuration.md, each cell without its backquotes.
func readDoc(t *testing.T) (settings, queues, pushRows []docRow) {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var header string
	for i, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "|") {
			header = ""
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		switch {
		case header == "":
			header = strings.Join(cells, ",")
			continue
		case strings.HasPrefix(cells[0], "---"):
			continue
		}
		unquote := func(s string) string { return strings.Trim(s, "`") }
		switch header {
		case "flag,environment,file key,default,meaning":
			if len(cells) != 5 {
				t.Fatalf("%s:%d: want 5 cells: %s", docPath, i+1, line)
			}
			r := docRow{line: i + 1, flag: unquote(cells[0]), key: unquote(cells[2]), deflt: unquote(cells[3])}
			for e := range strings.SplitSeq(cells[1], ",") {
				r.env = append(r.env, unquote(strings.TrimSpace(e)))
			}
			settings = append(settings, r)
		case "file key,default,meaning":
			if len(cells) != 3 {
				t.Fatalf("%s:%d: want 3 cells: %s", docPath, i+1, line)
			}
			r := docRow{line: i + 1, key: unquote(cells[0]), deflt: unquote(cells[1])}
			if strings.HasPrefix(r.key, "push.") {
				pushRows = append(pushRows, r)
			} else {
				queues = append(queues, r)
			}
		}
	}
	if len(settings) == 0 || len(queues) == 0 || len(pushRows) == 0 {
		t.Fatalf("%s: no settings, queues or push table found", docPath)
	}
	return settings, queues, pushRows
}

// pushKeys are the keys of a push target, as docs/configuration.md writes
// them, found from PushTarget's JSON tags (one level of nesting).
func pushKeys() []string {
	var out []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Type.Kind() == reflect.Struct {
				walk(prefix+tag+".", f.Type)
				continue
			}
			out = append(out, prefix+tag)
		}
	}
	walk("push.KEY.", reflect.TypeFor[PushTarget]())
	return out
}

// docDefault is how the doc writes a flag's default: as it is, "none" when
// empty.
func docDefault(f *flag.Flag) string {
	if f.DefValue == "" {
		return "none"
	}
	return f.DefValue
}

// TestConfigurationDoc fails when docs/configuration.md misses a setting of
// `gantry serve`, names one that does not exist, or gives a wrong
// environment variable, file key or default.
func TestConfigurationDoc(t *testing.T) {
	t.Parallel()
	settings, queues, pushRows := readDoc(t)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	DefaultServe().Flags(fs)

	documented := map[string]docRow{}
	for _, r := range settings {
		name := strings.TrimPrefix(r.flag, "--")
		if _, dup := documented[name]; dup {
			t.Errorf("%s:%d: %s is documented twice", docPath, r.line, r.flag)
		}
		documented[name] = r
		f := fs.Lookup(name)
		if f == nil || !strings.HasPrefix(r.flag, "--") {
			t.Errorf("%s:%d: %s is not a flag of gantry serve", docPath, r.line, r.flag)
			continue
		}
		wantEnv := append([]string{EnvName(name)}, serveAliases[name]...)
		wantKey := FileKey(name)
		if name == "config" {
			wantKey = "—" // the file cannot name another file
		}
		if !slices.Equal(r.env, wantEnv) || r.key != wantKey || !strings.EqualFold(r.deflt, docDefault(f)) {
			t.Errorf("%s:%d: %s: environment %q, file key %q, default %q; want %q, %q, %q",
				docPath, r.line, r.flag, r.env, r.key, r.deflt, wantEnv, wantKey, docDefault(f))
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := documented[f.Name]; !ok {
			env := strings.Join(append([]string{EnvName(f.Name)}, serveAliases[f.Name]...), "`, `")
			t.Errorf("%s: --%s is not documented; add a row:\n| `--%s` | `%s` | `%s` | `%s` | %s |",
				docPath, f.Name, f.Name, env, FileKey(f.Name), docDefault(f), f.Usage)
		}
	})

	// Every key of a queue's section, with its default.
	wantQueue := map[string]string{}
	qt := reflect.TypeFor[Queue]()
	for i := range qt.NumField() {
		tag, _, _ := strings.Cut(qt.Field(i).Tag.Get("json"), ",")
		deflt := fmt.Sprint(reflect.Zero(qt.Field(i).Type))
		if qt.Field(i).Type.Kind() == reflect.Map {
			deflt = "none" // not "map[]"
		}
		wantQueue["queues.NAME."+tag] = deflt
	}
	for _, r := range queues {
		want, ok := wantQueue[r.key]
		switch {
		case !ok:
			t.Errorf("%s:%d: %s is not a key of a queue", docPath, r.line, r.key)
		case r.deflt != want:
			t.Errorf("%s:%d: %s: default %q, want %q", docPath, r.line, r.key, r.deflt, want)
		}
		delete(wantQueue, r.key)
	}
	for k := range wantQueue {
		t.Errorf("%s: the queue key %s is not documented", docPath, k)
	}

	// Every key of a push target, once.
	wantPush := map[string]bool{}
	for _, k := range pushKeys() {
		wantPush[k] = true
	}
	for _, r := range pushRows {
		if !wantPush[r.key] {
			t.Errorf("%s:%d: %s is not a key of a push target", docPath, r.line, r.key)
		}
		delete(wantPush, r.key)
	}
	for k := range wantPush {
		t.Errorf("%s: the push key %s is not documented", docPath, k)
	}
}

// TestEveryFieldIsASetting fails when a field of Serve can be set neither
// by a flag (and so by the environment and the file) nor by a section of
// the config file: such a field would be missing from the documentation
// and from every way of configuring the server.
func TestEveryFieldIsASetting(t *testing.T) {
	t.Parallel()
	byField := fieldsOfFlags(t)
	st := reflect.TypeFor[Serve]()
	for i := range st.NumField() {
		name := st.Field(i).Name
		if _, ok := byField[name]; ok {
			continue
		}
		if section := map[string]string{"Queues": "queues", "Push": "push"}[name]; section != "" {
			if _, ok := DefaultServe().sections()[section]; ok {
				continue
			}
		}
		t.Errorf("Serve.%s is set by no flag and no section of the config file", name)
	}
}

// fieldsOfFlags maps each field of Serve to the flag that sets it, found by
// setting each flag on fresh defaults and seeing which field changed.
func fieldsOfFlags(t *testing.T) map[string]string {
	t.Helper()
	// A value each flag type accepts that differs from every default.
	candidates := []string{"7", "3s", "warn", "x:read", "postgres://h/db", "true", "false"}
	out := map[string]string{}
	probe := flag.NewFlagSet("serve", flag.ContinueOnError)
	DefaultServe().Flags(probe)
	probe.VisitAll(func(f *flag.Flag) {
		var changed []string
		for _, v := range candidates {
			s := DefaultServe()
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			s.Flags(fs)
			if fs.Set(f.Name, v) != nil {
				continue
			}
			changed = changedFields(DefaultServe(), s)
			if len(changed) > 0 {
				break
			}
		}
		if len(changed) != 1 {
			t.Errorf("--%s sets the fields %q of Serve, want exactly one", f.Name, changed)
			return
		}
		if prev, dup := out[changed[0]]; dup {
			t.Errorf("--%s and --%s both set Serve.%s", prev, f.Name, changed[0])
		}
		out[changed[0]] = f.Name
	})
	return out
}

func changedFields(a, b *Serve) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var out []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, va.Type().Field(i).Name)
		}
	}
	return out
}

// TestExampleConfig loads examples/gantry.json as gantry serve would, and
// fails if it leaves out a key of the config file.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	s, err := LoadServe([]string{"--config", examplePath}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("%s does not load: %v", examplePath, err)
	}
	if err := s.CheckExposure(); err != nil {
		t.Errorf("%s: %v", examplePath, err)
	}
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	var want []string
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	DefaultServe().Flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			want = append(want, FileKey(f.Name))
		}
	})
	for k := range s.sections() {
		want = append(want, k)
	}
	sort.Strings(want)
	for _, k := range want {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s leaves out the key %q", examplePath, k)
		}
	}
	// Every key of a queue appears in at least one queue of the example.
	var queues map[string]map[string]json.RawMessage
	if err := json.Unmarshal(obj["queues"], &queues); err != nil {
		t.Fatal(err)
	}
	qt := reflect.TypeFor[Queue]()
	for i := range qt.NumField() {
		tag, _, _ := strings.Cut(qt.Field(i).Tag.Get("json"), ",")
		found := false
		for _, q := range queues {
			_, ok := q[tag]
			found = found || ok
		}
		if !found {
			t.Errorf("%s: no queue sets %q", examplePath, tag)
		}
	}
	// Every key of a push target appears in at least one target.
	var targets map[string]map[string]json.RawMessage
	if err := json.Unmarshal(obj["push"], &targets); err != nil {
		t.Fatal(err)
	}
	for _, k := range pushKeys() {
		path := strings.Split(strings.TrimPrefix(k, "push.KEY."), ".")
		found := false
		for _, tg := range targets {
			raw, ok := tg[path[0]]
			if ok && len(path) == 2 {
				var sub map[string]json.RawMessage
				_ = json.Unmarshal(raw, &sub)
				_, ok = sub[path[1]]
			}
			found = found || ok
		}
		if !found {
			t.Errorf("%s: no push target sets %q", examplePath, k)
		}
	}
}
