package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders of the formats accepted
	_ "image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

// maxUpload bounds an uploaded image.
const maxUpload = 32 << 20

// sizes are the widths of the thumbnails, by ref.
var sizes = map[string]int{"small": 128, "medium": 512, "large": 1024}

// service is the HTTP front of the example and the handlers of its jobs.
type service struct {
	client *gantry.Client
	blobs  blob.Store
}

// thumbnail makes one thumbnail of the image in the blob Source.
type thumbnail struct {
	Source string `json:"source"`
	Width  int    `json:"width"`
}

func (thumbnail) Kind() string { return "thumbnail" }

// metadata extracts the image's format and dimensions.
type metadata struct {
	Source string `json:"source"`
}

func (metadata) Kind() string { return "metadata" }

// publish is the parent: it runs once the thumbnails and the metadata are
// done and returns them as the result of the whole.
type publish struct {
	Source string `json:"source"`
}

func (publish) Kind() string { return "publish" }

// Thumb is the result of a thumbnail job.
type Thumb struct {
	Key    string `json:"key"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int64  `json:"bytes"`
}

// Meta is the result of the metadata job.
type Meta struct {
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Published is the result of the publish job: the set.
type Published struct {
	Source     string           `json:"source"`
	Meta       Meta             `json:"meta"`
	Thumbnails map[string]Thumb `json:"thumbnails"`
}

func newService(st store.Driver, blobs blob.Store) (*service, error) {
	s := &service{blobs: blobs}
	reg := gantry.NewRegistry()
	gantry.Register(reg, gantry.HandlerFunc[thumbnail](s.thumbnail))
	gantry.Register(reg, gantry.HandlerFunc[metadata](s.metadata))
	gantry.Register(reg, gantry.HandlerFunc[publish](s.publish))
	c, err := gantry.NewClient(st, &gantry.Config{Registry: reg})
	if err != nil {
		return nil, err
	}
	s.client = c
	return s, nil
}

func (s *service) decode(ctx context.Context, key string) (image.Image, string, error) {
	r, _, err := s.blobs.Open(ctx, key)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	img, format, err := image.Decode(r)
	if err != nil {
		return nil, "", gantry.Permanent(fmt.Errorf("decoding %s: %w", key, err))
	}
	return img, format, nil
}

func (s *service) thumbnail(ctx context.Context, t *gantry.Task[thumbnail]) error {
	img, _, err := s.decode(ctx, t.Args.Source)
	if err != nil {
		return err
	}
	thumb := scale(img, t.Args.Width)
	var buf bytes.Buffer
	if err := png.Encode(&buf, thumb); err != nil {
		return err
	}
	key := fmt.Sprintf("thumbs/%s/%d.png", strings.TrimPrefix(t.Args.Source, "uploads/"), t.Args.Width)
	info, err := s.blobs.Put(ctx, key, &buf, "image/png", 0)
	if err != nil {
		return err
	}
	b := thumb.Bounds()
	return t.SetResult(Thumb{Key: key, Width: b.Dx(), Height: b.Dy(), Bytes: info.Size})
}

// scale resizes img to width (keeping its aspect ratio, never enlarging)
// by averaging the source pixels under each target pixel.
func scale(img image.Image, width int) image.Image {
	b := img.Bounds()
	if width >= b.Dx() || width <= 0 {
		width = b.Dx()
	}
	height := max(1, b.Dy()*width/b.Dx())
	out := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		y0, y1 := b.Min.Y+y*b.Dy()/height, b.Min.Y+max((y+1)*b.Dy()/height, y*b.Dy()/height+1)
		for x := range width {
			x0, x1 := b.Min.X+x*b.Dx()/width, b.Min.X+max((x+1)*b.Dx()/width, x*b.Dx()/width+1)
			var r, g, bl, a, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, ca := img.At(sx, sy).RGBA()
					r, g, bl, a, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca), n+1
				}
			}
			out.Set(x, y, color.RGBA64{R: uint16(r / n), G: uint16(g / n), B: uint16(bl / n), A: uint16(a / n)})
		}
	}
	return out
}

func (s *service) metadata(ctx context.Context, t *gantry.Task[metadata]) error {
	r, _, err := s.blobs.Open(ctx, t.Args.Source)
	if err != nil {
		return err
	}
	defer r.Close()
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return gantry.Permanent(fmt.Errorf("reading the image header: %w", err))
	}
	return t.SetResult(Meta{Format: format, Width: cfg.Width, Height: cfg.Height})
}

func (s *service) publish(ctx context.Context, t *gantry.Task[publish]) error {
	out := Published{Source: t.Args.Source, Thumbnails: map[string]Thumb{}}
	for ref := range sizes {
		th, err := gantry.DependencyResult[Thumb](t.Dependencies(), ref)
		if err != nil {
			return err
		}
		out.Thumbnails[ref] = th
	}
	m, err := gantry.DependencyResult[Meta](t.Dependencies(), "meta")
	if err != nil {
		return err
	}
	out.Meta = m
	return t.SetResult(out)
}

// ServeHTTP serves POST /images (the body is the image, streamed to the
// blob store; answers 202 with the workflow's ticket) and GET
// /images/{id}[?wait=30s] (the workflow's state, and the published set once
// it succeeded).
func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /images", s.upload)
	mux.HandleFunc("GET /images/{id}", s.status)
	mux.ServeHTTP(w, r)
}

func (s *service) upload(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "image/") {
		http.Error(w, "send the image with an image/* Content-Type", http.StatusUnsupportedMediaType)
		return
	}
	key := "uploads/" + store.NewID()
	if _, err := s.blobs.Put(r.Context(), key, http.MaxBytesReader(w, r.Body, maxUpload), ct, maxUpload); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, blob.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), status)
		return
	}
	var deps []string
	jobs := []gantry.WorkflowJob{}
	for ref, width := range sizes {
		j, err := gantry.Step(ref, thumbnail{Source: key, Width: width}, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		jobs = append(jobs, j)
		deps = append(deps, ref)
	}
	meta, _ := gantry.Step("meta", metadata{Source: key}, nil)
	pub, _ := gantry.Step("publish", publish{Source: key}, &gantry.EnqueueOpts{DependsOn: append(deps, "meta")})
	res, err := s.client.EnqueueWorkflow(r.Context(), gantry.Workflow{Name: key, Jobs: append(jobs, meta, pub)}, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Location", "/images/"+res.Workflow.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": res.Workflow.ID, "state": string(res.Workflow.State)})
}

// Status is the answer of GET /images/{id}.
type Status struct {
	ID     string               `json:"id"`
	State  gantry.WorkflowState `json:"state"`
	Result *Published           `json:"result,omitempty"`
}

func (s *service) status(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	if d, err := time.ParseDuration(r.URL.Query().Get("wait")); err == nil && d > 0 {
		wctx, cancel := context.WithTimeout(ctx, min(d, time.Minute))
		_, _ = s.client.WaitWorkflow(wctx, id)
		cancel()
	}
	wf, err := s.client.Workflow(ctx, id)
	if errors.Is(err, gantry.ErrNotFound) {
		http.Error(w, "no such image", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out := Status{ID: wf.ID, State: wf.State}
	if wf.State == gantry.WorkflowSucceeded {
		jobs, err := s.client.List(ctx, &gantry.ListParams{WorkflowID: id, Limit: 10})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, j := range jobs.Jobs {
			if j.Ref == "publish" {
				var p Published
				if err := json.Unmarshal(j.Result, &p); err == nil {
					out.Result = &p
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
