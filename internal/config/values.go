package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Scopes a token may grant, as the HTTP API names them.
var Scopes = []string{"enqueue", "read", "work", "admin"}

// Token is a bearer token and the scopes it grants.
type Token struct {
	Value  string
	Scopes []string
}

// Tokens is a flag.Value for a list of tokens written
// "token:scope,scope;token2:scope". Its String never shows the secrets.
type Tokens []Token

// String returns how many tokens there are, never their values.
func (t *Tokens) String() string {
	if t == nil || len(*t) == 0 {
		return ""
	}
	if len(*t) == 1 {
		return "1 token"
	}
	return fmt.Sprintf("%d tokens", len(*t))
}

// secret marks Tokens as a flag value never to be shown.
func (*Tokens) secret() {}

// Set parses a list of tokens, replacing the current one. An empty string
// means none.
func (t *Tokens) Set(s string) error {
	var out Tokens
	for i, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		value, scopes, ok := cutLast(item, ":")
		if !ok || value == "" || scopes == "" {
			return fmt.Errorf("token %d: want token:scope[,scope...]", i+1)
		}
		if strings.IndexFunc(value, unicode.IsSpace) >= 0 {
			return fmt.Errorf("token %d: the token contains white space", i+1)
		}
		if strings.Contains(value, ",") {
			// "a:read,b:admin" would be one token "a:read,b" with admin.
			return fmt.Errorf("token %d: the token contains a comma; separate tokens with ';'", i+1)
		}
		if contains(Scopes, value) && !allScopes(scopes) {
			// "admin:s3cret": quoting the unknown scope would show the secret.
			return fmt.Errorf("token %d: want token:scope[,scope...], the token first", i+1)
		}
		tok := Token{Value: value}
		for sc := range strings.SplitSeq(scopes, ",") {
			sc = strings.TrimSpace(sc)
			if !contains(Scopes, sc) {
				if closest(sc, slices.Clone(Scopes)) == "" {
					// Not a near miss of a scope: likely a token that lost its
					// ":scope", which must not be shown.
					return fmt.Errorf("token %d: unknown scope (not shown: it may be a token; want %s)", i+1, strings.Join(Scopes, ", "))
				}
				return fmt.Errorf("token %d: unknown scope %q (want %s)", i+1, sc, strings.Join(Scopes, ", "))
			}
			if !contains(tok.Scopes, sc) {
				tok.Scopes = append(tok.Scopes, sc)
			}
		}
		for _, prev := range out {
			if prev.Value == value {
				return fmt.Errorf("token %d: the same token is listed twice", i+1)
			}
		}
		out = append(out, tok)
	}
	*t = out
	return nil
}

// allScopes reports whether list, split at commas, names only scopes.
func allScopes(list string) bool {
	for sc := range strings.SplitSeq(list, ",") {
		if !contains(Scopes, strings.TrimSpace(sc)) {
			return false
		}
	}
	return true
}

// cutLast cuts s around the last sep: tokens may contain ':', scopes not.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// ByteSize is a flag.Value for a size in bytes, written as a number with
// an optional unit: KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB
// (powers of 1000); B is allowed.
type ByteSize int64

var units = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// String returns the size, with a binary unit when it is a whole number of
// one.
func (b *ByteSize) String() string {
	if b == nil {
		return "0"
	}
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// Set parses a size.
func (b *ByteSize) Set(s string) error {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToLower(t), strings.ToLower(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (e.g. 1048576, 512KiB, 5GiB, 10MB)", s)
	}
	if n > (1<<63-1)/mult {
		return fmt.Errorf("%q is too large", s)
	}
	*b = ByteSize(n * mult)
	return nil
}
