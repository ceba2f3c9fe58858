// Package s3 is a blob store of Gantry that keeps payloads in a bucket of
// any S3-compatible service: Amazon S3, MinIO, Ceph, Cloudflare R2,
// versitygw and the like.
//
// A store is named by a URL, s3://bucket/prefix, optionally with settings
// as query parameters:
//
//	s3://my-bucket/gantry/blobs
//	s3://my-bucket/gantry?region=eu-west-1
//	s3://test/blobs?endpoint=http://127.0.0.1:7070&path_style=true
//
// A payload under key k is the object prefix+k, so keys follow the rule of
// every blob store (blob.ValidateKey), except that a key may not begin
// with TempPrefix, which Put uses for its temporary objects.
//
// Settings come from the URL's parameters, then Options, then the usual
// AWS environment: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL,
// AWS_REGION or AWS_DEFAULT_REGION, and the credentials
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. Without
// credentials in the environment, the shared credentials file
// (~/.aws/credentials, AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE) and then
// an IAM role (EC2 instance profile, ECS task role, EKS web identity) are
// tried.
//
// # Uploads
//
// Put streams: it reads the payload into buffers of Options.PartSize
// (DefaultPartSize), hashing and counting it as it goes, and never holds
// more than Options.Concurrency+1 of them, so one Put uses at most
// (Concurrency+1) × PartSize bytes of memory however large the payload.
//
//   - A payload that fits in one buffer is stored with a single PUT that
//     carries its SHA-256 (checked by the service) and its metadata.
//   - A larger one becomes a multipart upload to a temporary object under
//     TempPrefix, one part per buffer, each signed with its own SHA-256.
//     The SHA-256 of the whole payload is known only at the end, and S3
//     takes an object's metadata only when the object is created, so Put
//     then copies the temporary object to its key on the server (no data
//     flows through Gantry, but the service writes the payload a second
//     time) with the metadata, and deletes the temporary object.
//
// Either way the object appears under its key whole, with its metadata, in
// one step: readers see the previous payload or the new one. A payload
// over the limit, a failed read, an error from the service or a cancelled
// context abort the multipart upload and delete the temporary object, so
// nothing is left behind. When the final request (the PUT or the copy)
// fails in a way that may have stored the object anyway, such as a
// cancelled context or a dropped connection, Put deletes the key.
//
// The SHA-256 of a payload is kept in the object's user metadata
// (x-amz-meta-sha256) and its media type in the Content-Type; an empty
// content type is stored as DefaultContentType.
//
// Cleanup after a crash: a process that dies mid-upload leaves an
// incomplete multipart upload (invisible, but billed) or an object under
// TempPrefix. A bucket lifecycle rule cleans both, for example
// AbortIncompleteMultipartUpload after one day, and expiration after one
// day for objects under prefix+TempPrefix.
//
// # Permissions
//
// Open checks that the bucket exists (s3:ListBucket). Put, Open and
// Delete need s3:PutObject, s3:GetObject, s3:DeleteObject and
// s3:AbortMultipartUpload on prefix*.
//
// # Downloads
//
// Open sends one GET and returns a reader that also seeks: a Seek costs
// nothing, and the next Read after one that moved the position sends a
// ranged GET (with If-Match, so a payload replaced meanwhile is an error,
// not a mix). net/http's ServeContent, and so HTTP Range requests, work on
// it.
package s3
