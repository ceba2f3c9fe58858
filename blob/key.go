package blob

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key a Store accepts, in bytes.
const MaxKeyLen = 1024

// ValidateKey reports why key cannot name a payload, or nil when it can.
//
// A key is 1 to MaxKeyLen bytes of UTF-8 without control characters or
// backslashes, made of non-empty segments separated by '/', none of which is
// "." or "..": a relative, clean, slash-separated path such as
// "jobs/0192f3c1-7c4e-7d2a-9f1e-3b1b2c9e8a10/payload". Every Store refuses
// other keys with this function's error, so a key that one store accepts is
// accepted by all. (blob/fs never uses keys as file names, so this rule is
// not its only guard against path traversal.)
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("blob key is empty")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("blob key is longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("blob key is not valid UTF-8")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("blob key contains the control character %U", r)
		}
		if r == '\\' {
			return fmt.Errorf("blob key contains a backslash")
		}
	}
	if key[0] == '/' {
		return fmt.Errorf("blob key %q is an absolute path", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("blob key %q has an empty segment", key)
		case ".", "..":
			return fmt.Errorf("blob key %q has a %q segment", key, seg)
		}
	}
	return nil
}
