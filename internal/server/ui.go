package server

import (
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/internal/tracing"
	"github.com/gantry-dev/gantry/ui"
)

// UIPath is where the server mounts the dashboard; GET / redirects to it.
const UIPath = "/ui/"

// handler is what the HTTP server serves: the dashboard under UIPath, a
// redirect to it at / and at UIPath without its slash, and the API
// everywhere else, each request in a server span (tracing.Handler). It
// routes by prefix rather than with an http.ServeMux, which would
// redirect unclean paths the API answers itself.
func (s *Server) handler() (http.Handler, error) {
	dash, err := ui.New(&ui.Config{API: s.api, Client: s.client, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.dash = dash
	strip := http.StripPrefix(strings.TrimSuffix(UIPath, "/"), dash)
	return tracing.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, UIPath):
			strip.ServeHTTP(w, r)
		case (p == "/" || p+"/" == UIPath) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, UIPath, http.StatusFound)
		default:
			s.api.ServeHTTP(w, r)
		}
	}), s.tp), nil
}
