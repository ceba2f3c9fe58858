package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	bad := filepath.Join(dir, "bad.jsonl")
	lines := `{"seq":1,"kind":"run","in_flight":8,"max_attempts":5,"status":0}
{"seq":2,"sent":1,"kind":"enqueue","ids":["a"],"count":1,"status":202}
{"seq":3,"sent":2,"kind":"lease","job":"a","attempt":1,"token":"1.a","status":200}
{"seq":4,"sent":3,"kind":"complete","job":"a","attempt":1,"token":"1.a","status":200}
`
	if err := os.WriteFile(good, []byte(lines+`{"seq":5,"sent":4,"kind":"final","job":"a","state":"succeeded","attempt":1,"result_token":"1.a","status":200}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(lines+`{"seq":5,"sent":4,"kind":"final","job":"a","status":404}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{good}, 0, "PASS"},
		{[]string{bad}, 1, "lost 1"},
		{[]string{good, bad}, 1, "FAIL"},
		{nil, 2, "usage"},
		{[]string{filepath.Join(dir, "none")}, 2, "no such file"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := run(c.args, &out, &errOut); code != c.code || !strings.Contains(out.String()+errOut.String(), c.want) {
			t.Errorf("run(%v) = %d, want %d with %q:\n%s%s", c.args, code, c.code, c.want, out.String(), errOut.String())
		}
	}
}
