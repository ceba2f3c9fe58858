package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/config"
)

// FuzzConfigFile loads any bytes as the config file of gantry serve: it
// never panics, fails only with a *UsageError, and no error shows the
// tokens the file gives (they are secrets, whatever else is wrong).
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte(`{"addr":"127.0.0.1:9000","max_pending":10000,"queues":{"images":{"workers":4,"max_pending":500}}}`))
	f.Add([]byte(`{"tokens":"s3cret-value:admin","addr":"0.0.0.0:80"}`))
	f.Add([]byte(`{"tokens":"s3cret-value:bogus"}`))
	f.Add([]byte(`{"tokens":"admin:s3cret-value"}`))
	f.Add([]byte(`{"max_json_bytes":"12 furlongs","workers":-1}`))
	f.Add([]byte(`{"queues":{"":{"workers":1e400}}}`))
	f.Add([]byte(`{"queues":{"q":{"rate":"5/s","key":"args.a.b","per_key_concurrency":1,"order":"fifo","weights":{"x":3}}}}`))
	f.Add([]byte(`{"queues":{"q":{"key":"args.","per_key_rate":"1/0s","per_key_burst":-1,"weights":{"":0}}}}`))
	f.Add([]byte(`{"addr":1,"addr":2}`))
	f.Add([]byte(`[`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(dir, "gantry.json")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := config.LoadServe([]string{"--config", path}, func(string) string { return "" })
		if err == nil {
			if s == nil {
				t.Fatal("no settings and no error")
			}
			return
		}
		var ue *config.UsageError
		if !errors.As(err, &ue) {
			t.Fatalf("error %T %v, want a *config.UsageError", err, err)
		}
		for _, secret := range tokenValues(content) {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the token %q: %v", secret, err)
			}
		}
	})
}

// tokenValues returns the token values (the part before each item's last
// colon, when 6 characters or more) of a config file's "tokens" string.
func tokenValues(content []byte) []string {
	var file struct {
		Tokens string `json:"tokens"`
	}
	if json.Unmarshal(content, &file) != nil {
		return nil
	}
	var out []string
	for item := range strings.SplitSeq(file.Tokens, ";") {
		i := strings.LastIndex(item, ":")
		if v := strings.TrimSpace(item[:max(i, 0)]); len(v) >= 6 {
			out = append(out, v)
		}
	}
	return out
}

// FuzzTokens: any token list parses without panicking; what parses has
// tokens with a value and known scopes, and a String that shows no value.
func FuzzTokens(f *testing.F) {
	f.Add("s3cret-enq:enqueue,read;s3cret-work:work;s3cret-admin:admin")
	f.Add("a:b:admin")
	f.Add("admin:s3cret")
	f.Add(" ; ;x:read")
	f.Add("tok:read,;tok:read")
	f.Fuzz(func(t *testing.T, s string) {
		var toks config.Tokens
		if err := toks.Set(s); err != nil {
			return
		}
		for _, tok := range toks {
			if tok.Value == "" || len(tok.Scopes) == 0 || strings.Contains(tok.Value, ",") {
				t.Fatalf("%q parses to a token %+v", s, tok)
			}
			for _, sc := range tok.Scopes {
				if !contains(config.Scopes, sc) {
					t.Fatalf("%q parses to an unknown scope %q", s, sc)
				}
			}
		}
		// String depends on no value: the same list with other values
		// shows the same. (A substring test would be fooled by a token
		// such as "tok", which "1 token" contains.)
		others := make(config.Tokens, len(toks))
		for i, tok := range toks {
			others[i] = config.Token{Value: "other" + tok.Value, Scopes: tok.Scopes}
		}
		if toks.String() != others.String() {
			t.Fatalf("String() %q depends on the token values (%q with others)", toks.String(), others.String())
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestTokensTypos: a comma where a semicolon belongs does not make one
// token out of two, and an unknown scope that is no near miss of a scope
// (a token, likely) is not quoted in the error.
func TestTokensTypos(t *testing.T) {
	t.Parallel()
	cases := []struct {
		list, hidden, want string
	}{
		{"tokA-1234:read,tokB-5678:admin", "tokB-5678", "comma"},
		{"s3cretvalue:read,s3cretvalue2", "s3cretvalue2", "unknown scope"},
		{"tok-1234:reed", "", `"reed"`},
	}
	for _, c := range cases {
		var toks config.Tokens
		err := toks.Set(c.list)
		if err == nil {
			t.Errorf("%q: accepted as %d tokens", c.list, len(toks))
			continue
		}
		if !strings.Contains(err.Error(), c.want) || (c.hidden != "" && strings.Contains(err.Error(), c.hidden)) {
			t.Errorf("%q: error %q, want it to say %s and not show %q", c.list, err, c.want, c.hidden)
		}
	}
}
