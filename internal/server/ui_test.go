package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/server"
)

// The server serves the dashboard at /ui/, redirects / and /ui to it, and
// leaves every other path to the API (an unclean path included, which the
// API answers with a problem rather than a redirect).
func TestServesDashboard(t *testing.T) {
	t.Parallel()
	base := run(t, setup(t))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cases := []struct {
		path     string
		status   int
		location string
		body     string
	}{
		{"/", http.StatusFound, server.UIPath, ""},
		{"/ui", http.StatusFound, server.UIPath, ""},
		{server.UIPath, http.StatusOK, "", "<title>Gantry</title>"},
		{server.UIPath + "app.js", http.StatusOK, "", "route()"},
		{server.UIPath + "api/v1/queues", http.StatusOK, "", `"queues"`},
		{"/v1/../ui/", http.StatusNotFound, "", "not_found"},
		{"/nothing", http.StatusNotFound, "", "not_found"},
		// The embedded store lists its one node, this server.
		{"/v1/nodes", http.StatusOK, "", `"workers":`},
	}
	for _, c := range cases {
		res, err := noRedirect.Get(base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status || res.Header.Get("Location") != c.location || !strings.Contains(string(b), c.body) {
			t.Errorf("GET %s: %s Location %q, want %d %q with %q: %.200s", c.path, res.Status, res.Header.Get("Location"), c.status, c.location, c.body, b)
		}
	}
}
