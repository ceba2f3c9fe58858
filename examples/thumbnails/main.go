// Command thumbnails is a small image service on Gantry's Go API: POST an
// image and a workflow makes thumbnails in three sizes and extracts its
// metadata, then a parent job publishes the set; the client follows the
// workflow's ticket to the result.
//
//	go run ./examples/thumbnails -addr 127.0.0.1:8090 -data /tmp/thumbs
//	curl -s --data-binary @cat.png -H 'Content-Type: image/png' localhost:8090/images
//	curl -s 'localhost:8090/images/<id>?wait=30s'
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/blob/fs"
	"github.com/gantry-dev/gantry/store/embedded"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "`host:port` to listen on")
	data := flag.String("data", "thumbnails-data", "`dir`ectory of the job store and the images")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := embedded.Open(filepath.Join(*data, "jobs"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	blobs, err := fs.Open(filepath.Join(*data, "blobs"))
	if err != nil {
		log.Fatal(err)
	}
	defer blobs.Close()
	svc, err := newService(st, blobs)
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: svc, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("thumbnails: listening on %s", *addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = svc.client.Stop(sctx)
}
