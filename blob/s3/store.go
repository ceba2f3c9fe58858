package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"

	"github.com/gantry-dev/gantry/blob"
)

// TempPrefix is where, under the store's prefix, Put keeps the temporary
// objects of multipart uploads; keys may not begin with it.
const TempPrefix = ".gantry-tmp/"

// CleanupTimeout bounds the requests that undo a failed Put (aborting a
// multipart upload, deleting a temporary object); they run even when the
// Put's context has ended.
const CleanupTimeout = 30 * time.Second

// metaSHA256 is the user metadata key of a payload's SHA-256: the header
// X-Amz-Meta-Sha256.
const metaSHA256 = "Sha256"

// ErrClosed is returned by the methods of a closed Store.
var ErrClosed = errors.New("blob/s3: store closed")

// Store keeps payloads as objects of one bucket under one prefix. It
// implements blob.Store and is safe for concurrent use.
type Store struct {
	core   *minio.Core
	loc    Location // with the effective endpoint, region and addressing
	opts   Options
	secure bool
	// transport is the Store's own, closed by Close; nil when
	// Options.Transport was given.
	transport *http.Transport
	bufs      sync.Pool // *[]byte of opts.PartSize
	// maxCopySize and copyPartSize are MaxPartSize and copyPartSize but
	// in tests.
	maxCopySize, copyPartSize int64
	closed                    atomic.Bool
}

var _ blob.Store = (*Store)(nil)

// Open returns the store that rawURL (s3://bucket/prefix?...) names,
// after checking that its bucket exists. opts may be nil. Close releases
// it.
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	loc, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults(loc)
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("blob/s3: %w", err)
	}
	s := &Store{loc: *loc, opts: o, maxCopySize: MaxPartSize, copyPartSize: copyPartSize}
	s.loc.Endpoint, s.loc.Region, s.loc.Addressing = o.Endpoint, o.Region, o.Addressing
	s.bufs.New = func() any { b := make([]byte, o.PartSize); return &b }

	host, secure := "s3.amazonaws.com", true
	if o.Endpoint != "" {
		u, _ := url.Parse(o.Endpoint) // checked by validate
		host, secure = u.Host, u.Scheme == "https"
	}
	s.secure = secure
	rt := o.Transport
	if rt == nil {
		if s.transport, err = minio.DefaultTransport(secure); err != nil {
			return nil, fmt.Errorf("blob/s3: %w", err)
		}
		rt = s.transport
	}
	var creds *credentials.Credentials
	if o.AccessKeyID != "" {
		creds = credentials.NewStaticV4(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupAuto
	switch o.Addressing {
	case AddressingPath:
		lookup = minio.BucketLookupPath
	case AddressingVirtualHost:
		lookup = minio.BucketLookupDNS
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    rt,
		Region:       o.Region,
		BucketLookup: lookup,
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("blob/s3: %w", err)
	}
	s.core = &minio.Core{Client: client}

	ok, err := client.BucketExists(ctx, loc.Bucket)
	if err == nil && !ok {
		err = errors.New("no such bucket")
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("blob/s3: bucket %q at %s: %w", loc.Bucket, client.EndpointURL().Redacted(), err)
	}
	return s, nil
}

// String returns the URL of the store with the settings in effect
// (endpoint, region, addressing), never the credentials.
func (s *Store) String() string { return s.loc.String() }

// Close releases the store's idle connections. Calls after Close fail with
// ErrClosed.
func (s *Store) Close() error {
	s.closed.Store(true)
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	return nil
}

// objectName returns the name of key's object, or why key cannot name a
// payload.
func (s *Store) objectName(key string) (string, error) {
	if err := blob.ValidateKey(key); err != nil {
		return "", err
	}
	if strings.HasPrefix(key+"/", TempPrefix) {
		return "", fmt.Errorf("blob key %q: %s is reserved for temporary objects", key, TempPrefix)
	}
	name := s.loc.Prefix + key
	if len(name) > maxObjectNameLen {
		return "", fmt.Errorf("blob key %q: with the prefix %q, longer than %d bytes", key, s.loc.Prefix, maxObjectNameLen)
	}
	return name, nil
}

// begin checks what every method checks first, and returns key's object
// name.
func (s *Store) begin(ctx context.Context, op, key string) (string, error) {
	if s.closed.Load() {
		return "", ErrClosed
	}
	name, err := s.objectName(key)
	if err != nil {
		return "", fmt.Errorf("blob/s3: %w", err)
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("blob/s3: %s %q: %w", op, key, context.Cause(ctx))
	}
	return name, nil
}

func (s *Store) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *Store) putBuf(b *[]byte) { s.bufs.Put(b) }

// Put streams r into the payload under key; see blob.Store and the
// package documentation. A limit of zero or less means none, but a
// payload is never more than MaxParts × Options.PartSize bytes. Put checks
// ctx between reads: a Read that blocks forever is the caller's to end (an
// HTTP server closes a request body when the request ends).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, contentType string, limit int64) (*blob.Info, error) {
	name, err := s.begin(ctx, "put", key)
	if err != nil {
		return nil, err
	}
	if contentType == "" {
		contentType = DefaultContentType
	}
	p := &put{s: s, name: name, r: r, h: sha256.New(), limit: limit, free: make(chan *[]byte, s.opts.Concurrency+1)}
	defer p.release()
	buf := s.getBuf()
	n, eof, err := p.fill(ctx, *buf)
	if err != nil {
		s.putBuf(buf)
		return nil, fmt.Errorf("blob/s3: put %q: %w", key, err)
	}
	if !eof {
		// A payload of exactly one buffer needs no multipart upload.
		if eof, err = p.atEOF(ctx); err != nil {
			s.putBuf(buf)
			return nil, fmt.Errorf("blob/s3: put %q: %w", key, err)
		}
	}
	var sum string
	if eof {
		sum = hex.EncodeToString(p.h.Sum(nil))
		err = s.putSingle(ctx, name, (*buf)[:n], sum, contentType)
		s.putBuf(buf)
	} else {
		sum, err = p.multipart(ctx, buf, n, contentType)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/s3: put %q: %w", key, err)
	}
	return &blob.Info{Key: key, Size: p.size, SHA256: sum, ContentType: contentType}, nil
}

// putSingle stores a payload that fit in one buffer with one PUT.
func (s *Store) putSingle(ctx context.Context, name string, data []byte, sum, contentType string) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	_, err := s.core.PutObject(ctx, s.loc.Bucket, name, bytes.NewReader(data), int64(len(data)), "", sum,
		minio.PutObjectOptions{ContentType: contentType, UserMetadata: map[string]string{metaSHA256: sum}})
	if err != nil {
		s.undoCommit(ctx, name, err)
		return err
	}
	return nil
}

// undoCommit deletes the object name after the request that would have
// stored it failed in a way that may have stored it anyway: anything but
// an error answer from the service, such as a cancelled context or a
// connection lost after the request was sent.
func (s *Store) undoCommit(ctx context.Context, name string, err error) {
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.StatusCode != 0 {
		return
	}
	s.cleanup(ctx, "deleting the object of a failed put", name, func(ctx context.Context) error {
		return s.core.RemoveObject(ctx, s.loc.Bucket, name, minio.RemoveObjectOptions{})
	})
}

// cleanup runs undo on a context that outlives ctx's cancellation, for at
// most CleanupTimeout, and logs its failure.
func (s *Store) cleanup(ctx context.Context, what, name string, undo func(context.Context) error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
	defer cancel()
	if err := undo(cctx); err != nil && !isNotFound(err) {
		s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "blob/s3: "+what+" failed; a bucket lifecycle rule can remove what is left",
			slog.String("bucket", s.loc.Bucket), slog.String("object", name), slog.Any("error", err))
	}
}

// put is the state of one Put: the payload read so far, and the buffers
// it holds.
type put struct {
	s     *Store
	name  string
	r     io.Reader
	h     hash.Hash
	size  int64
	limit int64
	// free holds the buffers whose parts went out, for the next parts: a
	// Put recycles its own Concurrency+1 buffers rather than taking new
	// ones from the pool, which a garbage collection may have emptied.
	free chan *[]byte
}

func (p *put) getBuf() *[]byte {
	select {
	case b := <-p.free:
		return b
	default:
		return p.s.getBuf()
	}
}

func (p *put) putBuf(b *[]byte) {
	select {
	case p.free <- b:
	default:
		p.s.putBuf(b)
	}
}

// release returns the buffers p kept to the store's pool.
func (p *put) release() {
	for {
		select {
		case b := <-p.free:
			p.s.putBuf(b)
		default:
			return
		}
	}
}

// fill reads from p.r into buf until buf is full or p.r ends (eof),
// hashing and counting what it reads. It fails with blob.ErrTooLarge past
// the limit and with ctx's cause once ctx ends.
func (p *put) fill(ctx context.Context, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		if ctx.Err() != nil {
			return n, false, context.Cause(ctx)
		}
		k, rerr := p.r.Read(buf[n:])
		if k > 0 {
			if p.limit > 0 && p.size+int64(k) > p.limit {
				return n, false, fmt.Errorf("%w: more than %d bytes", blob.ErrTooLarge, p.limit)
			}
			p.h.Write(buf[n : n+k])
			n += k
			p.size += int64(k)
		}
		switch {
		case rerr == io.EOF:
			return n, true, nil
		case rerr != nil:
			return n, false, fmt.Errorf("reading the payload: %w", rerr)
		}
	}
	return n, false, nil
}

// atEOF reports whether p.r has nothing more to read, reading ahead at
// most one byte, which the next fill reads again.
func (p *put) atEOF(ctx context.Context) (bool, error) {
	var b [1]byte
	for {
		if ctx.Err() != nil {
			return false, context.Cause(ctx)
		}
		k, err := p.r.Read(b[:])
		if k > 0 {
			p.r = io.MultiReader(bytes.NewReader(b[:k]), p.r)
			return false, nil
		}
		switch {
		case err == io.EOF:
			return true, nil
		case err != nil:
			return false, fmt.Errorf("reading the payload: %w", err)
		}
	}
}

// multipart uploads the payload, whose first n bytes are in buf, as a
// multipart upload to a temporary object, then copies that to its name
// with the metadata. It returns the payload's SHA-256. It owns buf.
func (p *put) multipart(ctx context.Context, buf *[]byte, n int, contentType string) (sum string, err error) {
	s := p.s
	tmp := s.loc.Prefix + TempPrefix + newID()
	uploadID, err := s.core.NewMultipartUpload(ctx, s.loc.Bucket, tmp, minio.PutObjectOptions{})
	if err != nil {
		p.putBuf(buf)
		return "", fmt.Errorf("starting a multipart upload: %w", err)
	}
	defer func() {
		if err != nil {
			s.cleanup(ctx, "aborting a multipart upload", tmp, func(ctx context.Context) error {
				return s.core.AbortMultipartUpload(ctx, s.loc.Bucket, tmp, uploadID)
			})
		}
		// The temporary object exists only if the upload completed, but
		// a completion whose answer was lost is indistinguishable from
		// one that failed: delete it whatever happened.
		s.cleanup(ctx, "deleting a temporary object", tmp, func(ctx context.Context) error {
			return s.core.RemoveObject(ctx, s.loc.Bucket, tmp, minio.RemoveObjectOptions{})
		})
	}()

	parts, err := p.uploadParts(ctx, tmp, uploadID, buf, n)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", context.Cause(ctx)
	}
	if _, err := s.core.CompleteMultipartUpload(ctx, s.loc.Bucket, tmp, uploadID, parts, minio.PutObjectOptions{}); err != nil {
		return "", fmt.Errorf("completing a multipart upload: %w", err)
	}
	sum = hex.EncodeToString(p.h.Sum(nil))
	if err := ctx.Err(); err != nil {
		return "", context.Cause(ctx)
	}
	if err := p.commit(ctx, tmp, sum, contentType); err != nil {
		s.undoCommit(ctx, p.name, err)
		return "", fmt.Errorf("copying the upload to its key: %w", err)
	}
	return sum, nil
}

// Server-side copies: one request copies at most MaxPartSize bytes; a
// larger payload is copied in ranges of copyPartSize by a multipart
// upload.
const copyPartSize = 1 << 30

// commit copies the temporary object tmp to the payload's name, setting
// its metadata, on the server.
func (p *put) commit(ctx context.Context, tmp, sum, contentType string) error {
	s := p.s
	meta := map[string]string{metaSHA256: sum}
	if p.size <= s.maxCopySize {
		_, err := s.core.Client.CopyObject(ctx,
			minio.CopyDestOptions{Bucket: s.loc.Bucket, Object: p.name, UserMetadata: meta, ReplaceMetadata: true, ContentType: contentType},
			minio.CopySrcOptions{Bucket: s.loc.Bucket, Object: tmp})
		return err
	}
	uploadID, err := s.core.NewMultipartUpload(ctx, s.loc.Bucket, p.name, minio.PutObjectOptions{ContentType: contentType, UserMetadata: meta})
	if err != nil {
		return err
	}
	partSize := s.copyPartSize
	n := (p.size + partSize - 1) / partSize
	parts := make([]minio.CompletePart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	for i := range n {
		g.Go(func() error {
			off := i * partSize
			part, err := s.core.CopyObjectPart(gctx, s.loc.Bucket, tmp, s.loc.Bucket, p.name, uploadID, int(i)+1, off, min(partSize, p.size-off), nil)
			parts[i] = part
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		_, err = s.core.CompleteMultipartUpload(ctx, s.loc.Bucket, p.name, uploadID, parts, minio.PutObjectOptions{})
	}
	if err != nil {
		s.cleanup(ctx, "aborting a multipart copy", p.name, func(ctx context.Context) error {
			return s.core.AbortMultipartUpload(ctx, s.loc.Bucket, p.name, uploadID)
		})
	}
	return err
}

// uploadParts uploads the payload as the parts of uploadID: buf (holding
// n bytes) first, then what fill reads, with at most Concurrency parts in
// flight. It owns buf.
func (p *put) uploadParts(ctx context.Context, obj, uploadID string, buf *[]byte, n int) ([]minio.CompletePart, error) {
	s := p.s
	// A failed read stops the parts in flight; a failed part stops the
	// reading (errgroup cancels gctx with the part's error as the cause).
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	g, gctx := errgroup.WithContext(rctx)
	g.SetLimit(s.opts.Concurrency)
	var (
		mu    sync.Mutex
		parts []minio.CompletePart
	)
	var readErr error
	eof := false
	for num := 1; ; num++ {
		if num > MaxParts {
			p.putBuf(buf)
			readErr = fmt.Errorf("%w: more than %d parts of %d bytes", blob.ErrTooLarge, MaxParts, s.opts.PartSize)
			break
		}
		data, size := buf, n
		g.Go(func() error {
			defer p.putBuf(data)
			part, err := s.uploadPart(gctx, obj, uploadID, num, (*data)[:size])
			if err != nil {
				return fmt.Errorf("uploading part %d: %w", num, err)
			}
			mu.Lock()
			parts = append(parts, minio.CompletePart{PartNumber: num, ETag: part.ETag})
			mu.Unlock()
			return nil
		})
		if eof {
			break
		}
		buf = p.getBuf()
		var err error
		n, eof, err = p.fill(gctx, *buf)
		if err != nil {
			p.putBuf(buf)
			readErr = err
			break
		}
		if n == 0 && eof {
			p.putBuf(buf)
			break
		}
	}
	if readErr != nil {
		stop(readErr)
	}
	werr := g.Wait()
	if readErr != nil {
		return nil, readErr
	}
	if werr != nil {
		return nil, werr
	}
	slices.SortFunc(parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	return parts, nil
}

// uploadPart sends one part. Over HTTPS the request carries the part's
// SHA-256; over plain HTTP the client signs the body chunk by chunk
// (aws-chunked), which covers it already.
func (s *Store) uploadPart(ctx context.Context, obj, uploadID string, num int, data []byte) (minio.ObjectPart, error) {
	var o minio.PutObjectPartOptions
	if s.secure {
		sum := sha256.Sum256(data)
		o.Sha256Hex = hex.EncodeToString(sum[:])
	}
	return s.core.PutObjectPart(ctx, s.loc.Bucket, obj, uploadID, num, bytes.NewReader(data), int64(len(data)), o)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Open returns the payload under key and its Info, or an error wrapping
// blob.ErrNotFound. The reader is also an io.Seeker (see the package
// documentation); it reads with ctx, and the caller closes it.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, *blob.Info, error) {
	name, err := s.begin(ctx, "open", key)
	if err != nil {
		return nil, nil, err
	}
	body, oi, hdr, err := s.core.GetObject(ctx, s.loc.Bucket, name, minio.GetObjectOptions{})
	if err != nil {
		if isNotFound(err) {
			err = fmt.Errorf("%w (%v)", blob.ErrNotFound, err)
		}
		return nil, nil, fmt.Errorf("blob/s3: open %q: %w", key, err)
	}
	info := &blob.Info{
		Key:         key,
		Size:        oi.Size,
		SHA256:      hdr.Get("X-Amz-Meta-" + metaSHA256),
		ContentType: oi.ContentType,
	}
	return &object{s: s, ctx: ctx, key: key, name: name, etag: oi.ETag, size: oi.Size, body: body}, info, nil
}

// isNotFound reports whether err says that the object does not exist (but
// not that the bucket does not).
func isNotFound(err error) bool {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	return er.Code == minio.NoSuchKey || er.StatusCode == http.StatusNotFound && er.Code != minio.NoSuchBucket
}

// Delete removes the payload under key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	name, err := s.begin(ctx, "delete", key)
	if err != nil {
		return err
	}
	if err := s.core.RemoveObject(ctx, s.loc.Bucket, name, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("blob/s3: delete %q: %w", key, err)
	}
	return nil
}
