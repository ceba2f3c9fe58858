// Command push-target-go is a Gantry push target written with the
// standard library only: it checks the Gantry-Signature of every request
// against the secrets in GANTRY_PUSH_SECRET (comma-separated, so that a
// secret can rotate) and answers a "thumbnail" job with a JSON result.
//
//	GANTRY_PUSH_SECRET=s3cret go run ./examples/push-target-go -addr 127.0.0.1:9000
//
// and in gantry.json:
//
//	{"push": {"thumbnail": {"url": "http://127.0.0.1:9000/thumbnail", "secret_env": "GANTRY_PUSH_SECRET"}}}
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// tolerance is how far a signature's time may be from the target's clock:
// an old request replayed later is refused.
const tolerance = 5 * time.Minute

// verify reports whether header (t=<unix>,v1=<hex>[,v1=<hex>...]) signs
// body with one of secrets, made within tolerance of now.
func verify(header string, secrets []string, body []byte, now time.Time) bool {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return false
	}
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, s := range sigs {
			if hmac.Equal(s, want) {
				return true
			}
		}
	}
	return false
}

// job is the part of the pushed job resource this target reads.
type job struct {
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	Attempt int             `json:"attempt"`
	Args    json.RawMessage `json:"args"`
}

// handler answers pushed jobs: 401 for a bad signature, 400 for a body
// that is not a job (both fail the job for good), 200 with the result.
func handler(secrets []string, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if !verify(r.Header.Get("Gantry-Signature"), secrets, body, now()) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var j job
		if err := json.Unmarshal(body, &j); err != nil || j.ID != r.Header.Get("Gantry-Job-Id") {
			http.Error(w, "not a job", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"thumbnail_of": j.ID, "args": j.Args})
	})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	var secrets []string
	for _, s := range strings.Split(os.Getenv("GANTRY_PUSH_SECRET"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		log.Fatal("set GANTRY_PUSH_SECRET to the secret that Gantry signs with")
	}
	srv := &http.Server{Addr: *addr, Handler: handler(secrets, time.Now), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
