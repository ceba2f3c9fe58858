package config_test

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-dev/gantry/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gantry.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := config.LoadServe(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	want := config.DefaultServe()
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	if s.Addr != "127.0.0.1:8080" || s.DataDir != "gantry-data" || s.Store != "embedded" || !s.Demo {
		t.Fatalf("unexpected defaults %+v", s)
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `{"addr": "127.0.0.1:1000", "workers": 3, "max_pending": 50, "log_level": "debug", "data_dir": "from-file"}`)
	cases := []struct {
		name string
		args []string
		env  func(string) string
		want func(*config.Serve) bool
	}{
		{"file over defaults", []string{"--config", file}, env(),
			func(s *config.Serve) bool {
				return s.Addr == "127.0.0.1:1000" && s.Workers == 3 && s.MaxPending == 50 && s.LogLevel == slog.LevelDebug && s.DataDir == "from-file"
			}},
		{"env over file", []string{"--config", file}, env("GANTRY_ADDR", "127.0.0.1:2000", "GANTRY_WORKERS", "4"),
			func(s *config.Serve) bool { return s.Addr == "127.0.0.1:2000" && s.Workers == 4 && s.MaxPending == 50 }},
		{"flag over env", []string{"--config", file, "--addr", "127.0.0.1:3000"}, env("GANTRY_ADDR", "127.0.0.1:2000"),
			func(s *config.Serve) bool { return s.Addr == "127.0.0.1:3000" && s.Workers == 3 }},
		{"config file from the environment", nil, env("GANTRY_CONFIG", file),
			func(s *config.Serve) bool { return s.Addr == "127.0.0.1:1000" && s.ConfigFile == file }},
		{"seed aliases", nil, env("MAX_WORKERS", "7", "MAX_QUEUE", "100"),
			func(s *config.Serve) bool { return s.Workers == 7 && s.MaxPending == 100 }},
		{"GANTRY_ names win over the seed aliases", nil, env("MAX_WORKERS", "7", "GANTRY_WORKERS", "8", "MAX_QUEUE", "100", "GANTRY_MAX_PENDING", "200"),
			func(s *config.Serve) bool { return s.Workers == 8 && s.MaxPending == 200 }},
		{"flag over alias", []string{"--workers=9"}, env("MAX_WORKERS", "7"),
			func(s *config.Serve) bool { return s.Workers == 9 }},
		{"booleans and durations from env", nil, env("GANTRY_DEMO", "false", "GANTRY_SHUTDOWN_TIMEOUT", "1m", "GANTRY_DRAIN_DELAY", "0s"),
			func(s *config.Serve) bool { return !s.Demo && s.ShutdownTimeout == time.Minute && s.DrainDelay == 0 }},
		{"retention forever from env", nil, env("GANTRY_RETENTION", "-1s"),
			func(s *config.Serve) bool { return s.Retention == -time.Second }},
		{"retention from the flag", []string{"--retention", "10m"}, env(),
			func(s *config.Serve) bool { return s.Retention == 10*time.Minute }},
		{"sizes", []string{"--max-blob-bytes", "10MiB"}, env("GANTRY_MAX_JSON_BYTES", "2KB"),
			func(s *config.Serve) bool { return s.MaxBlobBytes == 10<<20 && s.MaxJSONBytes == 2000 }},
		{"tokens from env", nil, env("GANTRY_TOKENS", "tok1:enqueue,read; tok2:admin"),
			func(s *config.Serve) bool {
				return reflect.DeepEqual(s.Tokens, config.Tokens{{Value: "tok1", Scopes: []string{"enqueue", "read"}}, {Value: "tok2", Scopes: []string{"admin"}}})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := config.LoadServe(tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(s) {
				t.Fatalf("got %+v", s)
			}
		})
	}
}

func TestQueuesSection(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `{"queues": {"default": {"workers": 2}, "images": {"workers": 4, "max_pending": 1000}, "external": {"max_pending": 10}}}`)
	s, err := config.LoadServe([]string{"--config", file}, env())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]config.Queue{"default": {Workers: 2}, "images": {Workers: 4, MaxPending: 1000}, "external": {MaxPending: 10}}
	if !reflect.DeepEqual(s.Queues, want) || s.Workers != 2 {
		t.Fatalf("got %+v workers %d", s.Queues, s.Workers)
	}
	// --workers still wins for the default queue.
	s, err = config.LoadServe([]string{"--config", file, "--workers", "5"}, env())
	if err != nil || s.Workers != 5 {
		t.Fatalf("got %v, %v", s, err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		file string // config file content, if any
		args []string
		env  func(string) string
		want string // in the error
	}{
		{"unknown key", `{"wokers": 3}`, nil, env(), `unknown key "wokers" (did you mean "workers"?)`},
		{"unknown key far from any", `{"colour": "blue"}`, nil, env(), `unknown key "colour"`},
		{"config in the file", `{"config": "other.json"}`, nil, env(), `unknown key "config"`},
		{"unknown queue key", `{"queues": {"q": {"worker": 1}}}`, nil, env(), `queues: json: unknown field "worker"`},
		{"queue key in another case", `{"queues": {"q": {"Workers": 1}}}`, nil, env(), `unknown field "q.Workers" (names are case-sensitive: "workers")`},
		{"key twice", `{"workers": 2, "workers": 3}`, nil, env(), `duplicate key "workers"`},
		{"queue twice", `{"queues": {"q": {"workers": 1}, "q": {"workers": 2}}}`, nil, env(), `duplicate key "queues.q"`},
		{"queue key twice", `{"queues": {"q": {"workers": 1, "workers": 2}}}`, nil, env(), `duplicate key "queues.q.workers"`},
		{"bad value in the file", `{"workers": "many"}`, nil, env(), `workers: parse error`},
		{"object value", `{"addr": {"host": "x"}}`, nil, env(), `addr: want a string`},
		{"not an object", `[1]`, nil, env(), `not a JSON object`},
		{"bad env value", "", nil, env("GANTRY_WORKERS", "many"), `environment variable GANTRY_WORKERS`},
		{"bad alias value", "", nil, env("MAX_QUEUE", "x"), `environment variable MAX_QUEUE`},
		{"unknown flag", "", []string{"--wrokers", "3"}, env(), `flag provided but not defined: -wrokers`},
		{"argument", "", []string{"extra"}, env(), `serve takes no arguments`},
		{"zero workers", "", []string{"--workers", "0"}, env(), `--workers 0 must be between 1`},
		{"bad log format", "", []string{"--log-format", "xml"}, env(), `--log-format "xml"`},
		{"bad log level", "", []string{"--log-level", "loud"}, env(), `log-level`},
		{"bad store", "", []string{"--store", "mysql://x"}, env(), `--store "mysql://x": want embedded or a postgres:// URL`},
		{"password redacted", "", []string{"--store", "mysql://u:hunter2@x"}, env(), `xxxxx`},
		{"bad addr", "", []string{"--addr", "8080"}, env(), `--addr "8080"`},
		{"bad token", "", []string{"--tokens", "secret"}, env(), `token 1: want token:scope`},
		{"bad scope", "", nil, env("GANTRY_TOKENS", "a:read;b:root"), `token 2: unknown scope "root"`},
		{"bad size", "", []string{"--max-blob-bytes", "5 gigs"}, env(), `not a size`},
		{"bad queue name", `{"queues": {"a b": {"workers": 1}}}`, nil, env(), `"a b" is not a valid queue name`},
		{"drain longer than shutdown", "", []string{"--drain-delay", "1m", "--shutdown-timeout", "30s"}, env(), `must be shorter`},
		{"streams not below connections", "", []string{"--max-connections", "10", "--max-streams", "10"}, env(), `must be below --max-connections`},
		{"negative connections", "", []string{"--max-connections", "-1"}, env(), `--max-connections -1 must not be negative`},
		{"zero retention", "", []string{"--retention", "0s"}, env(), `--retention must not be 0`},
		{"zero upload idle timeout", "", []string{"--upload-idle-timeout", "0s"}, env(), `--upload-idle-timeout must not be 0`},
		{"zero sweep grace", "", []string{"--blob-sweep-grace", "0s"}, env(), `--blob-sweep-grace 0s must be positive`},
		{"migrate without postgres", "", []string{"--migrate"}, env(), `postgres:// --store only`},
		{"missing config file", "", []string{"--config", "/nonexistent/gantry.json"}, env(), `no such file`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, tc.file)}, args...)
			}
			_, err := config.LoadServe(args, tc.env)
			if err == nil {
				t.Fatal("no error")
			}
			var ue *config.UsageError
			if !errors.As(err, &ue) {
				t.Errorf("%v is not a *UsageError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	if _, err := config.LoadServe([]string{"--help"}, env()); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
}

func TestExposure(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr   string
		tokens bool
		allow  bool
		ok     bool
	}{
		{"127.0.0.1:8080", false, false, true},
		{"127.3.2.1:8080", false, false, true},
		{"localhost:8080", false, false, true},
		{"[::1]:8080", false, false, true},
		{":8080", false, false, false},
		{"0.0.0.0:8080", false, false, false},
		{"[::]:8080", false, false, false},
		{"10.0.0.5:8080", false, false, false},
		{"example.com:8080", false, false, false},
		{"0.0.0.0:8080", true, false, true},
		{"0.0.0.0:8080", false, true, true},
	}
	for _, tc := range cases {
		s := config.DefaultServe()
		s.Addr = tc.addr
		s.AllowUnauthenticated = tc.allow
		if tc.tokens {
			s.Tokens = config.Tokens{{Value: "t", Scopes: []string{"admin"}}}
		}
		err := s.CheckExposure()
		if (err == nil) != tc.ok {
			t.Errorf("%s tokens=%v allow=%v: %v", tc.addr, tc.tokens, tc.allow, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--allow-unauthenticated") {
			t.Errorf("the error does not say how to proceed: %v", err)
		}
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		pos  []string
		json bool
	}{
		{[]string{"ID", "--json"}, []string{"ID"}, true},
		{[]string{"--json", "ID"}, []string{"ID"}, true},
		{[]string{"A", "B"}, []string{"A", "B"}, false},
		{[]string{"A", "--", "--json"}, []string{"A", "--json"}, false},
		{nil, nil, false},
	}
	for _, tc := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		j := fs.Bool("json", false, "")
		pos, err := config.ParseArgs(fs, tc.args)
		if err != nil || !reflect.DeepEqual(pos, tc.pos) || *j != tc.json {
			t.Errorf("%q: got %q json=%v err=%v", tc.args, pos, *j, err)
		}
	}
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	cases := map[string]int64{"0": 0, "1024": 1024, "1KiB": 1024, "5GiB": 5 << 30, "10MB": 10e6, "3 kb": 3000, "7B": 7}
	for in, want := range cases {
		var b config.ByteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: got %d, %v", in, b, err)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "GiB", "99999999999TiB"} {
		var b config.ByteSize
		if err := b.Set(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	b := config.ByteSize(5 << 30)
	if b.String() != "5GiB" {
		t.Errorf("String: %s", b.String())
	}
}

func TestTokensString(t *testing.T) {
	t.Parallel()
	var tk config.Tokens
	if err := tk.Set("s3cret:admin"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tk.String(), "s3cret") {
		t.Fatal("String shows the secret")
	}
	if err := tk.Set("a:read;a:admin"); err == nil {
		t.Fatal("a duplicated token was accepted")
	}
	if err := tk.Set("with:colon:read"); err != nil || tk[0].Value != "with:colon" {
		t.Fatalf("a token with a colon: %v %+v", err, tk)
	}
}

// A token that does not parse is never quoted back, whether it came from a
// flag, the environment or the config file.
func TestTokensErrorHidesSecret(t *testing.T) {
	t.Parallel()
	const secret = "SuperSecret-1"
	for _, value := range []string{secret + ":bogus", secret + " x:read", "ok:read;" + secret + ":bogus", "admin:" + secret} {
		file := writeFile(t, `{"tokens": "`+value+`"}`)
		for _, tc := range []struct {
			name string
			args []string
			env  func(string) string
			want string
		}{
			{"flag", []string{"--tokens", value}, env(), "flag --tokens: token "},
			{"flag=", []string{"--tokens=" + value}, env(), "flag --tokens: token "},
			{"flag after another", []string{"--workers", "2", "-tokens", value}, env(), "flag --tokens: token "},
			{"env", nil, env("GANTRY_TOKENS", value), "environment variable GANTRY_TOKENS: token "},
			{"file", []string{"--config", file}, env(), "tokens: token "},
		} {
			_, err := config.LoadServe(tc.args, tc.env)
			var ue *config.UsageError
			if !errors.As(err, &ue) {
				t.Errorf("%s %q: %v, want a *UsageError", tc.name, value, err)
				continue
			}
			if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %q: error %q shows the secret or lacks %q", tc.name, value, err, tc.want)
			}
		}
	}
	// Other flags still quote their value.
	if _, err := config.LoadServe([]string{"--tokens", "a:read", "--workers", "many"}, env()); err == nil || !strings.Contains(err.Error(), `invalid value "many" for flag -workers`) {
		t.Errorf("--workers many: %v", err)
	}
}
