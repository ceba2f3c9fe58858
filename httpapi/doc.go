// Package httpapi is Gantry's HTTP API (docs/http-api.md): an
// http.Handler to mount in any http.Server, built on a gantry.Client.
//
//	srv, err := httpapi.New(&httpapi.Config{Client: client, Blobs: blobs, MaxPending: 10000})
//	...
//	hs := &http.Server{Addr: "127.0.0.1:8080", Handler: srv, ReadHeaderTimeout: 10 * time.Second}
//	go hs.ListenAndServe()
//	<-ctx.Done()
//	srv.Drain()            // 503 for new requests, /readyz 503, long waits end
//	hs.Shutdown(shutdownCtx)
//
// Routes:
//
//	POST /v1/jobs                      enqueue one job: JSON, or a binary payload with ?kind=&queue=...
//	POST /v1/jobs/batch                enqueue many jobs, all or none
//	GET  /v1/jobs                      list: ?state=&kind=&queue=&parent_id=&limit=&cursor=
//	GET  /v1/jobs/{id}                 the job; ?wait=30s long-polls until it is final
//	GET  /v1/jobs/{id}/events          Server-Sent Events: state and progress changes
//	GET  /v1/jobs/{id}/blob            the job's binary payload
//	POST /v1/jobs/{id}/cancel          cancel
//	POST /v1/jobs/{id}/retry           retry a failed or cancelled job
//	GET  /v1/queues                    queues: counts per state, limits, drain rate
//	POST /v1/queues/{name}/pause       pause claiming
//	POST /v1/queues/{name}/resume      resume claiming
//	GET  /v1/nodes                     the nodes serving the store
//	POST /v1/queues/{name}/lease       external workers: lease jobs
//	POST /v1/jobs/{id}/heartbeat       extend a lease, report progress, save a checkpoint
//	POST /v1/jobs/{id}/complete        the leased attempt succeeded
//	POST /v1/jobs/{id}/fail            the leased attempt failed
//	GET  /healthz, GET /readyz         liveness, readiness
//
// Every error is an RFC 9457 problem (application/problem+json) with a
// stable code (the Code* constants) and, when a field is at fault, its name.
// Status codes: 202 accepted; 400 malformed; 401/403 token missing or
// lacking the scope; 404; 405 with Allow; 409 conflict, stale lease or
// reused idempotency key; 413 too large; 415 unsupported media type; 422
// valid JSON that cannot be carried out; 429 queue full, with Retry-After
// from the queue's drain rate; 503 draining or store unavailable, with
// Retry-After.
//
// Enqueue answers carry two optional headers: Gantry-Duplicate: true when a
// unique_key matched an unfinished job (the answer is that job, still 202),
// and Idempotent-Replayed: true when an Idempotency-Key was seen before
// (the answer is the first call's jobs, still 202).
//
// Admission control refuses, with 429, enqueues into a queue that holds
// Config.MaxPending unfinished jobs or more; it never holds a request until
// there is room.
//
// Authentication is by bearer tokens with scopes (Config.Tokens): enqueue,
// read, work, admin (which implies the others). /healthz and /readyz are
// always open. Without tokens every request may do everything, so the
// server should then listen on loopback only.
//
// State-changing requests that a browser sends from another site are
// refused (cross-site request forgery protection, http.CrossOriginProtection)
// unless their origin is in Config.TrustedOrigins; programs are not affected.
//
// The server sets no timeouts of its own on connections: the http.Server
// it is mounted in should set ReadHeaderTimeout, ReadTimeout and
// WriteTimeout. Long-polls, event streams, lease waits and blob transfers
// lift or extend the write deadline for themselves through
// http.ResponseController, and an upload replaces the read deadline with
// an idle one that each read extends (Config.UploadIdleTimeout).
//
// Long-lived requests (event streams, long-polls, lease waits, uploads)
// can be bounded, overall and per token (Config.MaxStreams,
// Config.MaxStreamsPerToken): beyond the bound they are answered 503
// server_busy, so that they cannot hold every connection the process may
// open. Short requests are never counted.
package httpapi
