// Package jsonkeys checks the object keys of JSON text before
// encoding/json decodes it, for what encoding/json lets through: a key
// repeated in one object (encoding/json keeps the last), and a key that
// matches a struct field's name only when case is ignored (encoding/json
// takes "KIND" for "kind"). Request bodies and the configuration file are
// checked with it, so that a typo or a duplicate never goes unnoticed.
package jsonkeys

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Error says which key of the text is not acceptable.
type Error struct {
	// Path is where the key is, e.g. "jobs[2].kind" or "args.width".
	Path string
	// Key is the key as written.
	Key string
	// Duplicate is true when the key appears twice in one object;
	// otherwise the object decodes into a struct that has no field of
	// exactly this name. Suggest, when set, is the field's name whose case
	// differs.
	Duplicate bool
	Suggest   string
}

func (e *Error) Error() string {
	switch {
	case e.Duplicate:
		return "duplicate key " + strconv.Quote(e.Path)
	case e.Suggest != "":
		return "unknown field " + strconv.Quote(e.Path) + " (names are case-sensitive: " + strconv.Quote(e.Suggest) + ")"
	}
	return "unknown field " + strconv.Quote(e.Path)
}

// Check walks data, JSON text that will be decoded into a value of type t,
// and returns an *Error for the first key repeated within an object, at any
// depth, and for the first key of an object decoded into a struct that is
// not exactly the JSON name of one of its fields. Keys of maps and of free
// JSON (json.RawMessage, any) are checked for repeats only. Paths start with
// prefix ("" or e.g. "jobs[2]."). Text that is not valid JSON is left to
// the decoder, which describes syntax errors better: Check returns nil,
// whether the syntax error comes before the bad key or after it.
func Check(data []byte, t reflect.Type, prefix string) error {
	s := scanner{data: data}
	err := s.value(shapeOf(t), loc{parent: strings.TrimSuffix(prefix, "."), index: -1})
	if err == errSyntax || (err != nil && !json.Valid(data)) {
		return nil
	}
	return err
}

// shape is what a JSON value decodes into, as far as keys matter: a struct
// (fields by exact name, lower-cased names for suggestions), or a container
// of elem, or free JSON (nil).
type shape struct {
	fields map[string]*shape
	folded map[string]string
	elem   *shape
}

var shapes sync.Map // reflect.Type -> *shape

var rawMessage = reflect.TypeFor[json.RawMessage]()

func shapeOf(t reflect.Type) *shape {
	if t == nil {
		return nil
	}
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	s := buildShape(t, map[reflect.Type]*shape{})
	shapes.Store(t, s)
	return s
}

func buildShape(t reflect.Type, seen map[reflect.Type]*shape) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessage {
		return nil
	}
	if s, ok := seen[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &shape{fields: map[string]*shape{}, folded: map[string]string{}}
		seen[t] = s
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch name {
			case "-":
				continue
			case "":
				name = f.Name
			}
			s.fields[name] = buildShape(f.Type, seen)
			s.folded[strings.ToLower(name)] = name
		}
		return s
	case reflect.Slice, reflect.Array, reflect.Map:
		s := &shape{}
		seen[t] = s
		s.elem = buildShape(t.Elem(), seen)
		return s
	}
	return nil
}

// errSyntax stops the walk on text that is not JSON.
var errSyntax = errors.New("not JSON")

type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// loc is where a value is: under the key of parent (an object), or at
// index of parent (an array), or parent itself when both are unset. Its
// path is built only where a bad key needs it.
type loc struct {
	parent string
	key    string
	index  int
}

func (l loc) path() string {
	switch {
	case l.key != "":
		return join(l.parent, l.key)
	case l.index >= 0:
		return l.parent + "[" + strconv.Itoa(l.index) + "]"
	}
	return l.parent
}

// value reads one value at l.
func (s *scanner) value(sh *shape, l loc) error {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return errSyntax
	}
	switch s.data[s.pos] {
	case '{':
		return s.object(sh, l.path())
	case '[':
		return s.array(sh, l.path())
	case '"':
		_, _, err := s.str()
		return err
	}
	// A number or a literal: it ends at a delimiter.
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			if s.pos == start {
				return errSyntax
			}
			return nil
		}
		s.pos++
	}
	return nil
}

// str reads a string; raw is its text between the quotes, escaped reports
// whether it has escapes.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	s.pos++ // the opening quote
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '\\':
			escaped = true
			s.pos += 2
			continue
		case '"':
			raw = s.data[start:s.pos]
			s.pos++
			return raw, escaped, nil
		}
		s.pos++
	}
	return nil, false, errSyntax
}

func (s *scanner) object(sh *shape, path string) error {
	s.pos++ // {
	var small [16]string
	keys := small[:0]          // decoded, for objects of up to 16 keys
	var byName map[string]bool // for larger ones
	for first := true; ; first = false {
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errSyntax
		}
		if s.data[s.pos] == '}' && first {
			s.pos++
			return nil
		}
		if s.data[s.pos] != '"' {
			return errSyntax
		}
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		// The key as decoded; without escapes, a view of the text that
		// does not escape this call (no copy).
		name := unsafeString(raw)
		if escaped {
			if err := json.Unmarshal(s.data[s.pos-len(raw)-2:s.pos], &name); err != nil {
				return errSyntax
			}
		}
		dup := false
		if byName != nil {
			dup = byName[name]
			byName[strings.Clone(name)] = true
		} else {
			for _, k := range keys {
				if k == name {
					dup = true
					break
				}
			}
			keys = append(keys, name)
			if len(keys) > len(small) {
				byName = make(map[string]bool, 2*len(keys))
				for _, k := range keys {
					byName[strings.Clone(k)] = true
				}
			}
		}
		if dup {
			return &Error{Path: join(path, name), Key: strings.Clone(name), Duplicate: true}
		}
		var child *shape
		switch {
		case sh == nil:
		case sh.fields != nil:
			f, ok := sh.fields[name]
			if !ok {
				return &Error{Path: join(path, name), Key: strings.Clone(name), Suggest: sh.folded[strings.ToLower(name)]}
			}
			child = f
		default:
			child = sh.elem
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return errSyntax
		}
		s.pos++
		if err := s.value(child, loc{parent: path, key: name, index: -1}); err != nil {
			return err
		}
		if end, err := s.after('}'); end || err != nil {
			return err
		}
	}
}

// after reads what follows a member or an element: a comma, or the close
// of its object or array, which it reports as end.
func (s *scanner) after(close byte) (end bool, err error) {
	s.skipSpace()
	switch {
	case s.pos >= len(s.data):
		return false, errSyntax
	case s.data[s.pos] == ',':
		s.pos++
		return false, nil
	case s.data[s.pos] == close:
		s.pos++
		return true, nil
	}
	return false, errSyntax
}

func (s *scanner) array(sh *shape, path string) error {
	s.pos++ // [
	var elem *shape
	if sh != nil && sh.fields == nil {
		elem = sh.elem
	}
	for i := 0; ; i++ {
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errSyntax
		}
		if s.data[s.pos] == ']' && i == 0 {
			s.pos++
			return nil
		}
		if err := s.value(elem, loc{parent: path, index: i}); err != nil {
			return err
		}
		if end, err := s.after(']'); end || err != nil {
			return err
		}
	}
}

// unsafeString views b as a string without copying; the string must not
// outlive b nor be kept (keys are cloned where they are kept).
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// join builds a path; its result is a new string.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
