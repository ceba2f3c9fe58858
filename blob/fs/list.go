package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"path"
	"strings"

	"github.com/gantry-dev/gantry/blob"
)

var _ blob.Lister = (*Store)(nil)

// List calls fn with the payloads p selects; see blob.Lister. It walks
// the fan-out directories and reads the metadata of the payloads stored
// within p's window only (it tells their time from the metadata file's
// modification time, which is its commit), so a sweep of the recent
// uploads costs a directory walk, not a read of every payload's metadata.
func (s *Store) List(ctx context.Context, p *blob.ListParams, fn func(blob.Listed) error) error {
	if p == nil {
		p = &blob.ListParams{}
	}
	tops, err := s.subdirs(".")
	if err != nil {
		return err
	}
	for _, top := range tops {
		subs, err := s.subdirs(top)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			if err := s.listDir(ctx, top+"/"+sub, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// subdirs returns the fan-out directories (two hex digits) in dir.
func (s *Store) subdirs(dir string) ([]string, error) {
	d, err := s.root.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("blob/fs: list: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("blob/fs: list: reading %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); e.IsDir() && len(n) == 2 && isHex(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (s *Store) listDir(ctx context.Context, dir string, p *blob.ListParams, fn func(blob.Listed) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob/fs: list: %w", context.Cause(ctx))
	}
	d, err := s.root.Open(dir)
	if err != nil {
		return fmt.Errorf("blob/fs: list: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("blob/fs: list: reading %s: %w", dir, err)
	}
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), metaSuffix)
		if !ok || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil || !p.Within(info.ModTime()) {
			continue // deleted meanwhile, or outside the window
		}
		m, err := s.readMeta(location{dir: dir, base: base})
		if errors.Is(err, blob.ErrNotFound) || errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("blob/fs: list: %w", err)
		}
		if !strings.HasPrefix(m.Key, p.Prefix) || locate(m.Key).metaPath() != path.Join(dir, e.Name()) {
			continue
		}
		if err := fn(blob.Listed{Key: m.Key, Size: m.Size, Stored: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
