package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadWithFile(t *testing.T, body string) (*Serve, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gantry.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadServe([]string{"--config", path}, func(string) string { return "" })
}

func TestPushSection(t *testing.T) {
	t.Parallel()
	s, err := loadWithFile(t, `{"push":{"thumbnail":{"url":"http://127.0.0.1:9000/t","timeout":"5s","concurrency":{"min":2,"max":8},"rate":"50/s","secret_env":"S"},"queue:media":{"url":"https://h/x"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := s.PushTargets(func(k string) string { return map[string]string{"S": "a, b"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[1].Name != "thumbnail" || ts[1].Timeout != 5*time.Second || ts[1].Min != 2 || ts[1].Max != 8 ||
		ts[1].Rate == nil || ts[1].Rate.PerSecond() != 50 || strings.Join(ts[1].Secrets, "|") != "a|b" {
		t.Errorf("targets %+v", ts)
	}
	if ts[0].Name != "queue:media" || ts[0].Queue != "media" || ts[0].Timeout != 30*time.Second || ts[0].MaxResponseBytes != 1<<20 {
		t.Errorf("the queue's target with defaults: %+v", ts[0])
	}

	for _, tc := range []struct{ body, want string }{
		{`{"push":{"k":{"url":"ftp://h/"}}}`, "push.k.url"},
		{`{"push":{"k":{}}}`, "push.k.url"},
		{`{"push":{"k":{"url":"http://h/","timeout":"soon"}}}`, "push.k.timeout"},
		{`{"push":{"k":{"url":"http://h/","rate":"fast"}}}`, "push.k.rate"},
		{`{"push":{"k":{"url":"http://h/","concurrency":{"min":9,"max":3}}}}`, "concurrency.max"},
		{`{"push":{"k":{"url":"http://h/","urls":"x"}}}`, "url"},
		{`{"push":{"k":{"url":"http://h/","concurrency":{"mni":1}}}}`, "mni"},
	} {
		if _, err := loadWithFile(t, tc.body); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.body, err, tc.want)
		}
	}
}
