package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/minio/minio-go/v7"
)

// object is a payload being read: the body of one GET, replaced by a
// ranged GET when a Seek moved the position.
type object struct {
	s    *Store
	ctx  context.Context
	key  string
	name string
	etag string
	size int64

	mu      sync.Mutex
	body    io.ReadCloser // nil after Close or a failed reopen
	bodyPos int64         // where body reads from
	pos     int64         // where the next Read reads from
	closed  bool
}

var _ io.ReadSeekCloser = (*object)(nil)

// Read reads from the current position, sending a ranged GET first when a
// Seek moved it.
func (o *object) Read(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, fmt.Errorf("blob/s3: read %q: %w", o.key, io.ErrClosedPipe)
	}
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil || o.bodyPos != o.pos {
		if err := o.reopen(); err != nil {
			return 0, err
		}
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	o.bodyPos += int64(n)
	if err == io.EOF && o.pos < o.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// reopen replaces the body with one that starts at o.pos, of the same
// version of the payload.
func (o *object) reopen() error {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	opts := minio.GetObjectOptions{}
	if o.pos > 0 { // SetRange(0, 0) would mean the first byte only
		if err := opts.SetRange(o.pos, 0); err != nil {
			return fmt.Errorf("blob/s3: read %q: %w", o.key, err)
		}
	}
	if o.etag != "" {
		if err := opts.SetMatchETag(o.etag); err != nil {
			return fmt.Errorf("blob/s3: read %q: %w", o.key, err)
		}
	}
	body, _, _, err := o.s.core.GetObject(o.ctx, o.s.loc.Bucket, o.name, opts)
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && er.Code == "PreconditionFailed" {
			err = fmt.Errorf("the payload was replaced while it was read: %w", err)
		}
		return fmt.Errorf("blob/s3: read %q at %d: %w", o.key, o.pos, err)
	}
	o.body, o.bodyPos = body, o.pos
	return nil
}

// Seek sets the position of the next Read; it sends nothing.
func (o *object) Seek(offset int64, whence int) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, fmt.Errorf("blob/s3: seek %q: %w", o.key, io.ErrClosedPipe)
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.pos + offset
	case io.SeekEnd:
		abs = o.size + offset
	default:
		return 0, fmt.Errorf("blob/s3: seek %q: bad whence %d", o.key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("blob/s3: seek %q: negative position %d", o.key, abs)
	}
	o.pos = abs
	return abs, nil
}

// Close ends the download.
func (o *object) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}
