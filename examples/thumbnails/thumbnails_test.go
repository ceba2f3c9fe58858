package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/blob/fs"
	"github.com/gantry-dev/gantry/store/embedded"
)

// The story end to end: upload a PNG, follow the ticket, get three
// thumbnails of the right sizes, stored, and the image's metadata.
func TestUploadMakesThumbnails(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.Open(dir+"/jobs", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := fs.Open(dir + "/blobs")
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	svc, err := newService(st, blobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.client.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer svc.client.Stop(t.Context())
	srv := httptest.NewServer(svc)
	defer srv.Close()

	src := image.NewRGBA(image.Rect(0, 0, 2048, 1024))
	for y := range 1024 {
		for x := range 2048 {
			src.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, src); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/images", "image/png", &buf)
	if err != nil {
		t.Fatal(err)
	}
	var ticket struct{ ID, State string }
	if err := json.NewDecoder(resp.Body).Decode(&ticket); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d, %+v, %v", resp.StatusCode, ticket, err)
	}
	resp.Body.Close()
	var got Status
	deadline := time.Now().Add(60 * time.Second)
	for got.State != "succeeded" {
		if time.Now().After(deadline) {
			t.Fatalf("the workflow did not succeed: %+v", got)
		}
		resp, err := http.Get(srv.URL + "/images/" + ticket.ID + "?wait=10s")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got.State == "failed" || got.State == "cancelled" {
			t.Fatalf("the workflow ended %s", got.State)
		}
	}
	p := got.Result
	if p == nil || p.Meta != (Meta{Format: "png", Width: 2048, Height: 1024}) || len(p.Thumbnails) != 3 {
		t.Fatalf("published: %+v", p)
	}
	for ref, width := range sizes {
		th := p.Thumbnails[ref]
		if th.Width != width || th.Height != width/2 || th.Bytes <= 0 {
			t.Errorf("%s: %+v, want %dx%d", ref, th, width, width/2)
		}
		r, info, err := blobs.Open(t.Context(), th.Key)
		if err != nil || info.Size != th.Bytes {
			t.Fatalf("thumbnail %s in the blob store: %v, %v", th.Key, info, err)
		}
		img, err := png.Decode(r)
		r.Close()
		if err != nil || img.Bounds().Dx() != width {
			t.Errorf("thumbnail %s decodes to %v, %v", th.Key, img.Bounds(), err)
		}
	}
	resp, err = http.Post(srv.URL+"/images", "text/plain", bytes.NewReader([]byte("x")))
	if err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a text upload: %v, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}
