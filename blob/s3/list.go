package s3

import (
	"context"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/gantry-dev/gantry/blob"
)

var _ blob.Lister = (*Store)(nil)

// List calls fn with the payloads p selects; see blob.Lister. It pages
// through the objects under the store's prefix and p.Prefix
// (ListObjectsV2, 1000 a request) and tells their time from
// LastModified, which for a payload is when Put copied it to its name.
// Temporary objects (TempPrefix) are not payloads and are left out.
func (s *Store) List(ctx context.Context, p *blob.ListParams, fn func(blob.Listed) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if p == nil {
		p = &blob.ListParams{}
	}
	ctx, cancel := context.WithCancel(ctx) // ends the listing goroutine on an early return
	defer cancel()
	objects := s.core.Client.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: s.loc.Prefix + p.Prefix, Recursive: true})
	for o := range objects {
		if o.Err != nil {
			return fmt.Errorf("blob/s3: list: %w", o.Err)
		}
		key := strings.TrimPrefix(o.Key, s.loc.Prefix)
		if strings.HasPrefix(key, TempPrefix) || !p.Within(o.LastModified) {
			continue
		}
		if err := fn(blob.Listed{Key: key, Size: o.Size, Stored: o.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}
