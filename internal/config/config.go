// Package config loads the settings of the gantry command from its three
// sources, in decreasing precedence: command-line flags, GANTRY_*
// environment variables, and an optional JSON config file; what none of
// them sets keeps its default.
//
// Every flag --some-name is also the environment variable GANTRY_SOME_NAME
// and the file key "some_name". The seed names MAX_WORKERS and MAX_QUEUE are
// accepted as aliases of GANTRY_WORKERS and GANTRY_MAX_PENDING (the GANTRY_
// names win when both are set). An unknown key in the file, a value that
// does not parse and a setting out of range are errors that name the
// setting and where it came from.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/gantry-dev/gantry/internal/jsonkeys"
)

// EnvPrefix prefixes the environment variable of every flag.
const EnvPrefix = "GANTRY_"

// EnvName returns the environment variable of a flag: "data-dir" is
// GANTRY_DATA_DIR.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// FileKey returns the config file key of a flag: "data-dir" is "data_dir".
func FileKey(flagName string) string {
	return strings.ReplaceAll(flagName, "-", "_")
}

// UsageError is a mistake in the command line, the environment or the
// config file: the command should exit with status 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ParseArgs parses args with fs, allowing flags after positional arguments
// (gantry jobs get ID --json), and returns the positional arguments. A "--"
// ends the flags. It returns flag.ErrHelp for -h and --help.
//
// A value that does not parse is an error naming the flag; the flag
// package would quote the value too, so for a flag whose value holds
// secrets (--tokens) the error gives only the reason, as the environment
// and the config file do.
func ParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	secrets := hideSecrets(fs)
	defer secrets.restore(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			if s := secrets.failed(); s != nil {
				return nil, usagef("flag --%s: %v", s.name, s.err)
			}
			return nil, &UsageError{Err: err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// secret is implemented by the flag values whose text must never be shown
// in an error or a log: it holds credentials.
type secret interface {
	flag.Value
	secret()
}

// secretValue stands in for a secret flag's value while ParseArgs parses,
// keeping the error of its Set so that ParseArgs can report it without the
// value the flag package would quote.
type secretValue struct {
	secret
	name string
	err  error
}

func (v *secretValue) Set(s string) error {
	v.err = v.secret.Set(s)
	return v.err
}

// secretValues are the stand-ins of one parse.
type secretValues []*secretValue

// hideSecrets puts a stand-in in place of the value of every secret flag
// of fs; restore puts the values back.
func hideSecrets(fs *flag.FlagSet) secretValues {
	var out secretValues
	fs.VisitAll(func(f *flag.Flag) {
		if s, ok := f.Value.(secret); ok {
			v := &secretValue{secret: s, name: f.Name}
			f.Value = v
			out = append(out, v)
		}
	})
	return out
}

// failed returns the stand-in whose Set failed, if any.
func (vs secretValues) failed() *secretValue {
	for _, v := range vs {
		if v.err != nil {
			return v
		}
	}
	return nil
}

func (vs secretValues) restore(fs *flag.FlagSet) {
	for _, v := range vs {
		fs.Lookup(v.name).Value = v.secret
	}
}

// ApplyEnv sets the flags of fs from the environment: each flag from
// EnvName(flag) or, when that is unset, from its aliases in order. Flags
// named in skip are not read from the environment.
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string, aliases map[string][]string, skip ...string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || contains(skip, f.Name) {
			return
		}
		for _, name := range append([]string{EnvName(f.Name)}, aliases[f.Name]...) {
			v := getenv(name)
			if v == "" {
				continue
			}
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usagef("environment variable %s: %v", name, serr)
			}
			return
		}
	})
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ApplyFile sets the flags of fs from the JSON object in the file at path.
// Each key is a flag's FileKey; its value a string, number or boolean
// parsed as the flag would parse it, or an array of strings joined with
// ";". Keys in sections are decoded by their function instead. Any other
// key is an error naming it, and so are the keys of flags in skip.
func ApplyFile(fs *flag.FlagSet, path string, sections map[string]func(json.RawMessage) error, skip ...string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("config file: %w", err)}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return usagef("config file %s: not a JSON object: %v", path, err)
	}
	// A key given twice, at any depth, would have its last value win
	// unnoticed.
	if err := jsonkeys.Check(b, reflect.TypeFor[map[string]json.RawMessage](), ""); err != nil {
		return usagef("config file %s: %v", path, err)
	}
	flags := map[string]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		if !contains(skip, f.Name) {
			flags[FileKey(f.Name)] = f
		}
	})
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := obj[k]
		if dec, ok := sections[k]; ok {
			if err := dec(raw); err != nil {
				return usagef("config file %s: %s: %v", path, k, err)
			}
			continue
		}
		f, ok := flags[k]
		if !ok {
			known := make([]string, 0, len(flags)+len(sections))
			for name := range flags {
				known = append(known, name)
			}
			for name := range sections {
				known = append(known, name)
			}
			msg := fmt.Sprintf("config file %s: unknown key %q", path, k)
			if s := closest(k, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return &UsageError{Err: errors.New(msg)}
		}
		v, err := scalar(raw)
		if err != nil {
			return usagef("config file %s: %s: %v", path, k, err)
		}
		if v == nil {
			continue
		}
		if err := f.Value.Set(*v); err != nil {
			return usagef("config file %s: %s: %v", path, k, err)
		}
	}
	return nil
}

// scalar returns the text of a JSON string, number or boolean, the
// strings of an array joined with ";", or nil for null.
func scalar(raw json.RawMessage) (*string, error) {
	t := strings.TrimSpace(string(raw))
	switch {
	case t == "null":
		return nil, nil
	case strings.HasPrefix(t, `"`):
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return &s, nil
	case strings.HasPrefix(t, "["):
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errors.New("want a string, a number, a boolean or an array of strings")
		}
		s := strings.Join(list, ";")
		return &s, nil
	case t == "true" || t == "false":
		return &t, nil
	case strings.HasPrefix(t, "{"):
		return nil, errors.New("want a string, a number, a boolean or an array of strings, not an object")
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	s := n.String()
	return &s, nil
}

// closest returns the candidate nearest to s by edit distance, if it is
// near enough to be a likely typo.
func closest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	sort.Strings(candidates)
	for _, c := range candidates {
		if d := distance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
