package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gantry-dev/gantry"
	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/httpapi"
)

// clockSkew is how far the clocks of the nodes that share a store may
// disagree: an upload's id (made on one node) and its job's creation time
// are compared with this much slack.
const clockSkew = time.Minute

// sweeper deletes uploads that no job refers to: those a crash left
// between storing the payload and committing its job, and those whose
// clean-up after a failed enqueue failed. Retention deletes the payloads
// of the jobs it prunes (Config.OnPrune); the sweep is for the rest.
//
// Finding the referenced uploads costs no index: the job store lists jobs
// newest first, and an upload's key holds its id, a UUIDv7 made when the
// upload began, so the job referring to it was created after that time.
// A sweep lists the uploads stored after the previous sweep's horizon and
// before now - grace, then pages through the jobs created since the
// oldest of them began: work in proportion to the recent uploads and
// jobs, not to all of them. (The first sweep of a process has no horizon
// and looks at every upload once.) An upload that a sweep found
// referenced stays so until retention prunes its job and deletes it.
type sweeper struct {
	blobs   blob.Lister
	delete  func(ctx context.Context, key string) error
	jobs    func(ctx context.Context, p *gantry.ListParams) (*gantry.ListResult, error)
	grace   time.Duration
	log     *slog.Logger
	now     func() time.Time
	horizon time.Time // uploads stored at or before it were swept
}

// sweepResult is what one sweep did.
type sweepResult struct {
	Checked, Deleted int
}

// sweep deletes the uploads stored in (horizon, now - grace] that no job
// refers to, and moves the horizon on.
func (w *sweeper) sweep(ctx context.Context) (*sweepResult, error) {
	before := w.now().Add(-w.grace)
	var cands []string
	oldest := before
	err := w.blobs.List(ctx, &blob.ListParams{Prefix: httpapi.UploadKeyPrefix, StoredAfter: w.horizon, StoredBefore: before},
		func(l blob.Listed) error {
			cands = append(cands, l.Key)
			oldest = minTime(oldest, uploadStarted(l))
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("listing uploads: %w", err)
	}
	res := &sweepResult{Checked: len(cands)}
	if len(cands) == 0 {
		w.horizon = before
		return res, nil
	}
	refs, err := w.referenced(ctx, oldest.Add(-clockSkew))
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	var failed error
	for _, k := range cands {
		if refs[k] {
			continue
		}
		if err := w.delete(ctx, k); err != nil {
			failed = fmt.Errorf("deleting %s: %w", k, err)
			continue
		}
		res.Deleted++
	}
	if failed == nil {
		w.horizon = before
	}
	return res, failed
}

// referenced returns the upload keys of the jobs created since since.
func (w *sweeper) referenced(ctx context.Context, since time.Time) (map[string]bool, error) {
	refs := map[string]bool{}
	p := &gantry.ListParams{Limit: 1000}
	for {
		page, err := w.jobs(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, j := range page.Jobs {
			if j.Blob != nil && strings.HasPrefix(j.Blob.Key, httpapi.UploadKeyPrefix) {
				refs[j.Blob.Key] = true
			}
		}
		n := len(page.Jobs)
		if page.Next == "" || n == 0 || page.Jobs[n-1].CreatedAt.Before(since) {
			return refs, nil
		}
		p.Cursor = page.Next
	}
}

// uploadStarted returns when the upload l began, from the UUIDv7 in its
// key; for a key without one, the zero time, so that every job is looked
// at.
func uploadStarted(l blob.Listed) time.Time {
	u, err := uuid.Parse(strings.TrimPrefix(l.Key, httpapi.UploadKeyPrefix))
	if err != nil || u.Version() != 7 {
		return time.Time{}
	}
	return time.Unix(u.Time().UnixTime())
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// sweepLoop sweeps at once, then every cfg.BlobSweepInterval, until ctx
// ends.
func (s *Server) sweepLoop(ctx context.Context, w *sweeper) {
	t := time.NewTicker(s.cfg.BlobSweepInterval)
	defer t.Stop()
	for {
		res, err := w.sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.LogAttrs(ctx, slog.LevelWarn, "sweeping unreferenced uploads failed", slog.Any("error", err))
		case err == nil && res.Deleted > 0:
			s.log.LogAttrs(ctx, slog.LevelInfo, "deleted uploads that no job refers to",
				slog.Int("deleted", res.Deleted), slog.Int("checked", res.Checked), slog.Duration("grace", w.grace))
		case err == nil:
			s.log.LogAttrs(ctx, slog.LevelDebug, "swept uploads", slog.Int("checked", res.Checked))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newSweeper returns the sweeper of the server's blob store, or nil when
// it cannot list its payloads or the sweep is off.
func (s *Server) newSweeper() *sweeper {
	l, ok := s.blobs.(blob.Lister)
	if !ok || s.cfg.BlobSweepInterval < 0 {
		return nil
	}
	return &sweeper{blobs: l, delete: s.blobs.Delete, jobs: s.client.List, grace: s.cfg.BlobSweepGrace, log: s.log, now: time.Now}
}
