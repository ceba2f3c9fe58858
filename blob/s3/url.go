package s3

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/gantry-dev/gantry/blob"
)

// Location is what an s3:// URL says: where the payloads are and, when the
// URL's parameters say so, how to reach the service.
type Location struct {
	// Bucket is the bucket's name.
	Bucket string
	// Prefix is prepended to every key: "" or a clean path ending in "/",
	// such as "gantry/blobs/".
	Prefix string
	// Endpoint is the endpoint parameter: an http:// or https:// URL
	// without a path, or "" when the URL has none.
	Endpoint string
	// Region is the region parameter, or "".
	Region string
	// Addressing is what the path_style parameter says: AddressingPath
	// for true, AddressingVirtualHost for false, AddressingAuto without
	// it.
	Addressing Addressing
}

// URL parameters.
const (
	paramEndpoint  = "endpoint"
	paramRegion    = "region"
	paramPathStyle = "path_style"
)

// ParseURL parses a store URL, s3://bucket/prefix with the optional
// parameters endpoint, region and path_style, without contacting anything.
// It rejects what it does not understand: other schemes, credentials, a
// port, a fragment, unknown or repeated parameters, a prefix with empty,
// "." or ".." segments.
func ParseURL(raw string) (*Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: %w", err)
	}
	switch {
	case u.Scheme != "s3":
		return nil, fmt.Errorf("blob/s3: %q is not an s3://bucket/prefix URL", raw)
	case u.Opaque != "":
		return nil, fmt.Errorf("blob/s3: %q: want s3://bucket/prefix", raw)
	case u.User != nil:
		return nil, errors.New("blob/s3: the URL must not hold credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fmt.Errorf("blob/s3: %q: a fragment (#...) has no meaning here", raw)
	case u.Port() != "" || strings.HasSuffix(u.Host, ":"):
		return nil, fmt.Errorf("blob/s3: %q: the host is a bucket name and takes no port; give the service's address as ?endpoint=http://host:port", raw)
	}
	loc := &Location{Bucket: u.Host}
	if err := s3utils.CheckValidBucketName(loc.Bucket); err != nil {
		return nil, fmt.Errorf("blob/s3: bucket %q: %w", loc.Bucket, err)
	}
	if p := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/"); p != "" {
		if err := blob.ValidateKey(p); err != nil {
			return nil, fmt.Errorf("blob/s3: prefix %q: %w", p, err)
		}
		loc.Prefix = p + "/"
		if len(loc.Prefix) > maxObjectNameLen/2 {
			return nil, fmt.Errorf("blob/s3: prefix %q is longer than %d bytes", p, maxObjectNameLen/2)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: %q: %w", raw, err)
	}
	for name, values := range q {
		if len(values) != 1 {
			return nil, fmt.Errorf("blob/s3: parameter %s given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case paramEndpoint:
			if err := checkEndpoint(v); err != nil {
				return nil, fmt.Errorf("blob/s3: parameter %s: %w", name, err)
			}
			loc.Endpoint = v
		case paramRegion:
			if err := checkRegion(v); err != nil {
				return nil, fmt.Errorf("blob/s3: parameter %s: %w", name, err)
			}
			loc.Region = v
		case paramPathStyle:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("blob/s3: parameter %s=%q: want true or false", name, v)
			}
			loc.Addressing = AddressingVirtualHost
			if b {
				loc.Addressing = AddressingPath
			}
		default:
			return nil, fmt.Errorf("blob/s3: unknown parameter %q (known: %s, %s, %s)", name, paramEndpoint, paramRegion, paramPathStyle)
		}
	}
	return loc, nil
}

// String returns the URL of l, which ParseURL turns back into l.
func (l *Location) String() string {
	u := url.URL{Scheme: "s3", Host: l.Bucket, Path: "/" + l.Prefix}
	if l.Prefix == "" {
		u.Path = ""
	}
	q := url.Values{}
	if l.Endpoint != "" {
		q.Set(paramEndpoint, l.Endpoint)
	}
	if l.Region != "" {
		q.Set(paramRegion, l.Region)
	}
	switch l.Addressing {
	case AddressingPath:
		q.Set(paramPathStyle, "true")
	case AddressingVirtualHost:
		q.Set(paramPathStyle, "false")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// checkEndpoint accepts http:// and https:// URLs made of a host and an
// optional port: S3 clients address buckets and objects from the root.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: want http://host[:port] or https://host[:port]", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%q: credentials do not belong in the endpoint; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", u.Redacted())
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.Opaque != "", strings.ContainsAny(s, "?#"):
		return fmt.Errorf("%q: the endpoint takes no path, query or fragment", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: bad port", s)
		}
	}
	return nil
}

// checkRegion accepts names like us-east-1 or auto: letters, digits and
// '-', '_' and '.'.
func checkRegion(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q: want a region such as us-east-1", s)
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%q: want a region such as us-east-1", s)
		}
	}
	return nil
}
