package s3_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/gantry-dev/gantry/blob/s3"
)

// Open a store on a self-hosted S3-compatible service, with the
// credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then put a
// payload and read it back. (Not run: it needs the service.)
func ExampleOpen() {
	ctx := context.Background()
	store, err := s3.Open(ctx, "s3://my-bucket/gantry/blobs?endpoint=http://127.0.0.1:7070&path_style=true", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	info, err := store.Put(ctx, "uploads/photo.png", strings.NewReader("..."), "image/png", 10<<20)
	if err != nil {
		log.Fatal(err) // errors.Is(err, blob.ErrTooLarge) past 10 MiB
	}
	fmt.Println(info.Size, info.SHA256)

	rc, _, err := store.Open(ctx, "uploads/photo.png")
	if err != nil {
		log.Fatal(err) // errors.Is(err, blob.ErrNotFound) when missing
	}
	defer rc.Close()
	_, _ = io.Copy(io.Discard, rc)
}

// ParseURL checks a setting without contacting anything.
func ExampleParseURL() {
	loc, err := s3.ParseURL("s3://my-bucket/gantry/blobs?region=eu-west-1&path_style=true")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(loc.Bucket, loc.Prefix, loc.Region, loc.Addressing)
	_, err = s3.ParseURL("s3://my-bucket:9000/blobs")
	fmt.Println(err != nil)
	// Output:
	// my-bucket gantry/blobs/ eu-west-1 path
	// true
}
