package s3

// SetCopySizes sets the sizes of s's server-side copies, so that a test
// reaches the multipart copy with a few MiB: payloads over max bytes are
// copied in ranges of part bytes.
func SetCopySizes(s *Store, max, part int64) {
	s.maxCopySize, s.copyPartSize = max, part
}
