package s3

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
)

// Defaults of Options.
const (
	// DefaultPartSize is the size of the parts of a multipart upload, and
	// so of Put's buffers. With S3's 10,000 parts, it bounds a payload to
	// 80 GiB.
	DefaultPartSize = 8 << 20
	// DefaultConcurrency is how many parts of one Put upload at once.
	DefaultConcurrency = 2
	// DefaultRegion is the region of an Endpoint when nothing names one:
	// what most S3-compatible services accept.
	DefaultRegion = "us-east-1"
	// DefaultContentType is stored for a payload put with no content type.
	DefaultContentType = "application/octet-stream"
)

// Limits of S3 multipart uploads.
const (
	// MinPartSize is the smallest part S3 accepts (but for the last).
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part S3 accepts.
	MaxPartSize = 5 << 30
	// MaxParts is the most parts of one multipart upload.
	MaxParts = 10000
	// MaxConcurrency bounds Options.Concurrency.
	MaxConcurrency = 64
	// maxObjectNameLen is the longest object name S3 accepts, in bytes.
	maxObjectNameLen = 1024
)

// Addressing says how requests name the bucket.
type Addressing int

const (
	// AddressingAuto uses virtual-host style for Amazon S3 and the other
	// services known to expect it, path style for any other endpoint.
	AddressingAuto Addressing = iota
	// AddressingPath names the bucket in the path:
	// http://endpoint/bucket/key. Most self-hosted services (MinIO,
	// versitygw, Ceph without wildcard DNS) want it.
	AddressingPath
	// AddressingVirtualHost names the bucket in the host name:
	// https://bucket.endpoint/key.
	AddressingVirtualHost
)

// String returns "auto", "path" or "virtual-host".
func (a Addressing) String() string {
	switch a {
	case AddressingAuto:
		return "auto"
	case AddressingPath:
		return "path"
	case AddressingVirtualHost:
		return "virtual-host"
	}
	return fmt.Sprintf("Addressing(%d)", int(a))
}

// Options configure Open. A nil *Options means all defaults. The URL's
// parameters override the fields they name; fields left zero fall back to
// the environment, then to the default given with each.
type Options struct {
	// Endpoint is the service's URL, http:// or https:// and a host with
	// an optional port, e.g. "http://127.0.0.1:7070". Default: the URL's
	// endpoint parameter, else AWS_ENDPOINT_URL_S3, else
	// AWS_ENDPOINT_URL, else Amazon S3.
	Endpoint string
	// Region is the bucket's region. Default: the URL's region
	// parameter, else AWS_REGION, else AWS_DEFAULT_REGION, else
	// DefaultRegion for a service at an Endpoint of its own; for Amazon
	// S3, else asked of S3 (GetBucketLocation) once and cached.
	Region string
	// Addressing is path or virtual-host style. Default: the URL's
	// path_style parameter, else AddressingAuto.
	Addressing Addressing
	// AccessKeyID, SecretAccessKey and SessionToken are the credentials.
	// Default: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_SESSION_TOKEN, else the shared credentials file, else an IAM
	// role; with none of those, requests go unsigned.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// PartSize is the size of the parts of multipart uploads and of
	// Put's buffers, from MinPartSize to MaxPartSize. A payload is at
	// most MaxParts × PartSize bytes. Default DefaultPartSize.
	PartSize int64
	// Concurrency is how many parts of one Put upload at once, from 1 to
	// MaxConcurrency; a Put holds at most Concurrency+1 buffers of
	// PartSize. Default DefaultConcurrency.
	Concurrency int
	// Transport sends the requests. Default: a transport of the Store's
	// own, whose idle connections Close closes.
	Transport http.RoundTripper
	// Logger receives warnings about clean-ups that failed (an upload
	// that could not be aborted, a temporary object that could not be
	// deleted). Default: none.
	Logger *slog.Logger
	// Getenv reads the environment. Default os.Getenv.
	Getenv func(string) string
}

// withDefaults returns a copy of o (or of the zero Options) with the
// settings of loc and the environment applied and zero fields filled.
func (o *Options) withDefaults(loc *Location) Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if loc.Endpoint != "" {
		c.Endpoint = loc.Endpoint
	}
	if c.Endpoint == "" {
		c.Endpoint = firstEnv(c.Getenv, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	}
	if loc.Region != "" {
		c.Region = loc.Region
	}
	if c.Region == "" {
		c.Region = firstEnv(c.Getenv, "AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if c.Region == "" && c.Endpoint != "" {
		c.Region = DefaultRegion
	}
	if loc.Addressing != AddressingAuto {
		c.Addressing = loc.Addressing
	}
	if c.AccessKeyID == "" && c.SecretAccessKey == "" {
		c.AccessKeyID = c.Getenv("AWS_ACCESS_KEY_ID")
		c.SecretAccessKey = c.Getenv("AWS_SECRET_ACCESS_KEY")
		c.SessionToken = c.Getenv("AWS_SESSION_TOKEN")
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	return c
}

// validate checks the settings after withDefaults.
func (o *Options) validate() error {
	switch {
	case o.Endpoint != "" && checkEndpoint(o.Endpoint) != nil:
		return fmt.Errorf("endpoint: %w", checkEndpoint(o.Endpoint))
	case o.Region != "" && checkRegion(o.Region) != nil:
		return fmt.Errorf("region: %w", checkRegion(o.Region))
	case o.Addressing < AddressingAuto || o.Addressing > AddressingVirtualHost:
		return fmt.Errorf("unknown %v", o.Addressing)
	case (o.AccessKeyID == "") != (o.SecretAccessKey == ""):
		return fmt.Errorf("an access key ID needs a secret access key and the other way round (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	case o.PartSize < MinPartSize || o.PartSize > MaxPartSize:
		return fmt.Errorf("part size %d must be from %d to %d bytes", o.PartSize, MinPartSize, MaxPartSize)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return fmt.Errorf("concurrency %d must be from 1 to %d", o.Concurrency, MaxConcurrency)
	}
	return nil
}

func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}
