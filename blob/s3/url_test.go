package s3_test

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/blob/s3"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	ok := []struct {
		in   string
		want s3.Location
	}{
		{"s3://bucket", s3.Location{Bucket: "bucket"}},
		{"s3://bucket/", s3.Location{Bucket: "bucket"}},
		{"s3://my.bucket-1/gantry/blobs", s3.Location{Bucket: "my.bucket-1", Prefix: "gantry/blobs/"}},
		{"s3://bucket/gantry/blobs/", s3.Location{Bucket: "bucket", Prefix: "gantry/blobs/"}},
		{"s3://bucket/p?region=eu-west-1", s3.Location{Bucket: "bucket", Prefix: "p/", Region: "eu-west-1"}},
		{"s3://test/blobs?endpoint=http://127.0.0.1:7070&path_style=true&region=us-east-1",
			s3.Location{Bucket: "test", Prefix: "blobs/", Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", Addressing: s3.AddressingPath}},
		{"s3://test?endpoint=https%3A%2F%2Fs3.example.com&path_style=false",
			s3.Location{Bucket: "test", Endpoint: "https://s3.example.com", Addressing: s3.AddressingVirtualHost}},
		{"s3://test?endpoint=https://[::1]:9000/", s3.Location{Bucket: "test", Endpoint: "https://[::1]:9000/"}},
		{"s3://test/a%20b", s3.Location{Bucket: "test", Prefix: "a b/"}},
	}
	for _, tc := range ok {
		got, err := s3.ParseURL(tc.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if *got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.in, *got, tc.want)
		}
		again, err := s3.ParseURL(got.String())
		if err != nil || *again != *got {
			t.Errorf("ParseURL(%q) = %+v, %v: String() does not round-trip", got.String(), again, err)
		}
	}

	bad := []struct{ in, msg string }{
		{"", "not an s3://"},
		{"embedded", "not an s3://"},
		{"fs", "not an s3://"},
		{"gs://bucket/p", "not an s3://"},
		{"s3:bucket/p", "want s3://bucket/prefix"},
		{"s3:///p", "bucket"},
		{"s3://ab", "shorter than 3"},
		{"s3://Bad_Bucket!", "invalid"},
		{"s3://127.0.0.1/p", "ip address"},
		{"s3://bucket:9000/p", "takes no port"},
		{"s3://bucket:/p", "takes no port"},
		{"s3://key:secret@bucket/p", "credentials"},
		{"s3://bucket/p#frag", "fragment"},
		{"s3://bucket/a//b", "empty segment"},
		{"s3://bucket/a/../b", `".." segment`},
		{"s3://bucket/./b", `"." segment`},
		{"s3://bucket/a%00b", "control character"},
		{"s3://bucket/a%5Cb", "backslash"},
		{"s3://bucket/" + strings.Repeat("x", 600), "longer than"},
		{"s3://bucket/p?nope=1", `unknown parameter "nope"`},
		{"s3://bucket/p?pathstyle=true", `unknown parameter "pathstyle"`},
		{"s3://bucket/p?region=a&region=b", "given 2 times"},
		{"s3://bucket/p?path_style=yes", "want true or false"},
		{"s3://bucket/p?region=", "want a region"},
		{"s3://bucket/p?region=us%20east", "want a region"},
		{"s3://bucket/p?endpoint=127.0.0.1:7070", "want http://host"},
		{"s3://bucket/p?endpoint=ftp://host", "want http://host"},
		{"s3://bucket/p?endpoint=http://", "no host"},
		{"s3://bucket/p?endpoint=http://host/path", "no path"},
		{"s3://bucket/p?endpoint=http://u:p@host", "credentials"},
		{"s3://bucket/p?endpoint=http://host:99999", "bad port"},
		{"s3://bucket/p?a;b", "invalid semicolon"},
	}
	for _, tc := range bad {
		_, err := s3.ParseURL(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", tc.in, err, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), "secret") && strings.Contains(tc.in, "secret") {
			t.Errorf("ParseURL(%q): the error shows the secret: %v", tc.in, err)
		}
	}
}

// FuzzParseURL: ParseURL never panics, what it accepts is a bucket and a
// clean prefix, and String turns a Location back into itself.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"s3://bucket",
		"s3://bucket/gantry/blobs/",
		"s3://test/blobs?endpoint=http://127.0.0.1:7070&path_style=true&region=us-east-1",
		"s3://test?endpoint=https%3A%2F%2Fs3.example.com&path_style=false",
		"s3://bucket/a%20b%3Fc",
		"s3://bucket:1/p",
		"s3://k:s@bucket/p#x",
		"s3://bucket/a//b?x=1&x=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		loc, err := s3.ParseURL(in)
		if err != nil {
			return
		}
		if loc.Bucket == "" {
			t.Fatalf("ParseURL(%q): no bucket", in)
		}
		if loc.Prefix != "" {
			if !strings.HasSuffix(loc.Prefix, "/") {
				t.Fatalf("ParseURL(%q): prefix %q does not end in /", in, loc.Prefix)
			}
			if err := blob.ValidateKey(strings.TrimSuffix(loc.Prefix, "/")); err != nil {
				t.Fatalf("ParseURL(%q): prefix %q: %v", in, loc.Prefix, err)
			}
		}
		out := loc.String()
		again, err := s3.ParseURL(out)
		if err != nil {
			t.Fatalf("ParseURL(%q) = %+v, whose String %q does not parse: %v", in, *loc, out, err)
		}
		if *again != *loc {
			t.Fatalf("ParseURL(%q) = %+v, but its String %q parses to %+v", in, *loc, out, *again)
		}
	})
}
