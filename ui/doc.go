// Package ui is Gantry's dashboard: an http.Handler that serves a web page
// (its assets embedded in the binary, nothing loaded from elsewhere) and
// the JSON it reads, to mount under any path prefix of a server that also
// serves the HTTP API:
//
//	api, _ := httpapi.New(&httpapi.Config{Client: client})
//	dash, _ := ui.New(&ui.Config{API: api, Client: client})
//	mux := http.NewServeMux()
//	mux.Handle("/ui/", http.StripPrefix("/ui", dash))
//	mux.Handle("/", api)
//
// The page works through the API itself, reached under the dashboard's
// own path (api/v1/... below the prefix), so every action needs the API's
// scope for it (cancel, retry, pause and resume need admin; enqueue needs
// enqueue), cross-origin requests that change state are refused and live
// event streams count against the API's stream limits. The dashboard's
// own endpoints need the read scope: api/overview (the queues and nodes),
// api/jobs/{id} (a job with its checkpoint and the stacks of failed
// attempts), api/workflows/{id} (a workflow's jobs and edges, to draw it)
// and api/push (the push targets Config.PushTargets reports).
//
// With tokens configured the page asks for one and keeps it only in the
// tab's session storage; "log out" forgets it. Every answer carries a
// strict Content-Security-Policy: the page has no inline scripts or
// styles. docs/dashboard.md describes the pages.
package ui
