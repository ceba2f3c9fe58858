package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// MaxLimitKey bounds a job's limit key (Job.LimitKey), in bytes: a longer
// value is cut to this length.
const MaxLimitKey = 256

// DefaultLimitKey is the limit key of a job that lacks its queue's key
// field, or whose value there is null, an object or an array: such jobs
// share one key.
const DefaultLimitKey = ""

// maxKeyPath bounds the fields of a Limits.Key path.
const maxKeyPath = 8

// checkKeyPath checks a Limits.Key: "kind", "queue", or "args." and one to
// maxKeyPath field names separated by dots.
func checkKeyPath(path string) error {
	if path == "kind" || path == "queue" {
		return nil
	}
	rest, ok := strings.CutPrefix(path, "args.")
	if !ok {
		return errors.New(`must be "kind", "queue" or "args.FIELD[.FIELD...]"`)
	}
	fields := strings.Split(rest, ".")
	if len(fields) > maxKeyPath {
		return errors.New("must have at most 8 fields after args")
	}
	for _, f := range fields {
		if f == "" || len(f) > 128 {
			return errors.New("must have field names of 1 to 128 characters between its dots")
		}
	}
	return nil
}

// KeyOf returns the limit key of a job of kind in queue with args under
// the key path of l (Limits.Key): the kind, the queue, or the value at the
// path into args. A string keys by its contents, a number or a boolean by
// its JSON text as written ("42", "true"); a missing field, null, an
// object or an array give DefaultLimitKey. Keys longer than MaxLimitKey
// bytes are cut to it. Without a key path, KeyOf returns DefaultLimitKey.
// Both stores call it at enqueue and keep the result as Job.LimitKey, so
// claims never parse args.
func (l Limits) KeyOf(kind, queue string, args json.RawMessage) string {
	var k string
	switch l.Key {
	case "":
		return DefaultLimitKey
	case "kind":
		k = kind
	case "queue":
		k = queue
	default:
		k = argsKey(args, strings.Split(strings.TrimPrefix(l.Key, "args."), "."))
	}
	if len(k) > MaxLimitKey {
		k = k[:MaxLimitKey]
	}
	return k
}

// argsKey returns the key at path in the JSON object args.
func argsKey(args json.RawMessage, path []string) string {
	v := args
	for _, f := range path {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil {
			return DefaultLimitKey
		}
		var ok bool
		if v, ok = obj[f]; !ok {
			return DefaultLimitKey
		}
	}
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return DefaultLimitKey
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return DefaultLimitKey
		}
		return s
	case 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(v)
	}
	return DefaultLimitKey // null, an object, an array
}
