package load

import (
	"net/http"
	"strconv"
	"sync/atomic"
)

// Kind is the job kind of DefaultBody. No handler is registered for it: a
// job of this kind waits in the store.
const Kind = "bench.noop"

// defaultBody is a job of kind Kind whose args are about 200 bytes of
// JSON, the size of a typical request for a thumbnail or an e-mail.
const defaultBody = `{"kind":"` + Kind + `","args":{"user_id":4815162342,` +
	`"source":"https://images.example.com/uploads/2026/11/22/c2f1a7e0-5b7d-4f5e-9f0a-3b1d2e4c6a8b.png",` +
	`"sizes":[64,128,256,512],"format":"webp","quality":82,"strip_metadata":true,"notify":"ops@example.com"}}`

// DefaultBody returns the request body sent when Config.Body is nil: a
// POST /v1/jobs request for a job of kind Kind with about 200 bytes of
// args.
func DefaultBody() []byte { return []byte(defaultBody) }

// Baseline returns the bare net/http handler to measure a server against:
// it reads the request body and answers 202 Accepted with a small JSON
// body, {"id":"...","state":"available"}, with a new id each time. It
// decodes nothing and stores nothing: it is the cost of HTTP alone.
func Baseline() http.Handler {
	var seq atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf [512]byte
		for {
			if _, err := r.Body.Read(buf[:]); err != nil {
				break
			}
		}
		b := make([]byte, 0, 64)
		b = append(b, `{"id":"`...)
		b = strconv.AppendUint(b, seq.Add(1), 16)
		b = append(b, `","state":"available"}`+"\n"...)
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(b)
	})
}
