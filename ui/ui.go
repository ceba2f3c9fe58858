package ui

import (
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/httpapi"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is the policy of every answer of the dashboard:
// scripts, styles and connections only from the dashboard's own origin, no
// inline code, no frames, no plugins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Config is what the dashboard needs.
type Config struct {
	// API is the HTTP API the page works through; the dashboard serves it
	// below its own path, under api/. Required.
	API *httpapi.Server
	// Client reads the jobs the dashboard's own endpoints show. Required.
	Client *gantry.Client
	// Logger receives the errors of the overview's background readings.
	// Default: none are written.
	Logger *slog.Logger
	// PushTargets, when not nil, returns the push targets of the node and
	// their state, for the push page (GET api/push); it is called on every
	// reading and must be fast and safe for concurrent use. Default: the
	// page says no push target is configured.
	PushTargets func() []PushTarget
}

// Handler is the dashboard. Mount it with http.StripPrefix so that it sees
// paths from its root: "/" is the page, "/api/..." its JSON.
type Handler struct {
	cfg    Config
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection
	static http.Handler
	// overview is the last reading of the queues and nodes (overview.go).
	overview *overview
}

// New checks cfg and returns the dashboard.
func New(cfg *Config) (*Handler, error) {
	if cfg == nil || cfg.API == nil {
		return nil, errors.New("gantry: ui: Config.API is required")
	}
	if cfg.Client == nil {
		return nil, errors.New("gantry: ui: Config.Client is required")
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		// The assets are embedded at build time; a missing directory is a
		// broken build.
		panic("ui: embedded assets: " + err.Error())
	}
	h := &Handler{
		cfg:    *cfg,
		mux:    http.NewServeMux(),
		cop:    http.NewCrossOriginProtection(),
		static: http.FileServerFS(sub),
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h.overview = newOverview(cfg.API, log)
	h.mux.HandleFunc("GET /api/overview", h.serveOverview)
	h.mux.HandleFunc("GET /api/jobs/{id}", h.job)
	h.mux.HandleFunc("GET /api/workflows/{id}", h.workflow)
	h.mux.HandleFunc("GET /api/push", h.servePush)
	h.mux.Handle("/api/v1/", http.HandlerFunc(h.forward))
	h.mux.Handle("/api/", http.HandlerFunc(h.cfg.API.NotFound))
	h.mux.Handle("GET /{$}", http.HandlerFunc(h.asset))
	h.mux.Handle("GET /{file}", http.HandlerFunc(h.asset))
	h.mux.Handle("/", http.HandlerFunc(h.notFound))
	return h, nil
}

// Close stops the overview's reading in progress, if any, and waits for
// it. Call it after the HTTP server that serves the dashboard has shut
// down.
func (h *Handler) Close() {
	h.overview.close()
}

// ServeHTTP serves the dashboard.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if err := h.cop.Check(r); err != nil {
		http.Error(w, "gantry: cross-origin requests that change state are refused", http.StatusForbidden)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// asset serves one of the embedded files; "/" is index.html.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && !isAsset(r.URL.Path) {
		h.notFound(w, r)
		return
	}
	// The assets change with the binary, which a browser cannot know:
	// revalidate every time (they are small).
	w.Header().Set("Cache-Control", "no-cache")
	h.static.ServeHTTP(w, r)
}

// isAsset reports whether p names an embedded file.
func isAsset(p string) bool {
	name := strings.TrimPrefix(p, "/")
	if name == "" || strings.Contains(name, "/") {
		return false
	}
	fi, err := fs.Stat(assets, "assets/"+name)
	return err == nil && !fi.IsDir()
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "gantry: no dashboard page at "+r.URL.Path+"; the dashboard is at its root", http.StatusNotFound)
}

// forward serves api/v1/... with the API: the same scopes, problems,
// cross-origin checks and stream limits as /v1/... itself.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request) {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = strings.TrimPrefix(r.URL.Path, "/api")
	if u.RawPath != "" {
		u.RawPath = strings.TrimPrefix(u.RawPath, "/api")
	}
	r2.URL = &u
	h.cfg.API.ServeHTTP(w, r2)
}
