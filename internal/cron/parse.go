package cron

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// field describes one of the five fields of a cron spec.
type field struct {
	name     string
	min, max int
	// names maps three-letter lower-case names to values; nil for numeric
	// fields.
	names map[string]int
	// sunday7 allows 7 as a value meaning 0, for day-of-week.
	sunday7 bool
}

var (
	minuteField = field{name: "minute", min: 0, max: 59}
	hourField   = field{name: "hour", min: 0, max: 23}
	domField    = field{name: "day-of-month", min: 1, max: 31}
	monthField  = field{name: "month", min: 1, max: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}}
	dowField = field{name: "day-of-week", min: 0, max: 6, sunday7: true, names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}}
)

// descriptors maps the @ shorthands, other than @every, to their fields.
var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// Parse parses a schedule spec: five cron fields or a descriptor, optionally
// preceded by a CRON_TZ= or TZ= location (see the package documentation for
// the syntax). The error of a bad spec names the field and the bad value.
func Parse(spec string) (*Schedule, error) {
	s := &Schedule{spec: spec, loc: time.UTC}
	rest := strings.TrimSpace(spec)
	if rest == "" {
		return nil, errors.New("cron: empty spec")
	}

	if tz, ok := cutTZ(rest); ok {
		name, after := tz, ""
		if i := strings.IndexFunc(tz, unicode.IsSpace); i >= 0 {
			name, after = tz[:i], tz[i:]
		}
		loc, err := loadLocation(name)
		if err != nil {
			return nil, err
		}
		s.loc = loc
		rest = strings.TrimSpace(after)
		if rest == "" {
			return nil, fmt.Errorf("cron: no schedule after the time zone in %q", spec)
		}
	}

	fields := strings.Fields(rest)
	if strings.HasPrefix(fields[0], "@") {
		return parseDescriptor(s, fields)
	}
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron: expected 5 fields, got %d in %q", len(fields), spec)
	}
	if err := s.setFields(fields); err != nil {
		return nil, err
	}
	return s, nil
}

// cutTZ returns what follows a leading CRON_TZ= or TZ=.
func cutTZ(spec string) (string, bool) {
	if rest, ok := strings.CutPrefix(spec, "CRON_TZ="); ok {
		return rest, true
	}
	return strings.CutPrefix(spec, "TZ=")
}

func loadLocation(name string) (*time.Location, error) {
	switch name {
	case "":
		return nil, errors.New("cron: empty time zone")
	case "Local":
		return nil, errors.New(`cron: time zone "Local" is refused: it depends on the machine; name a location such as "Europe/Paris"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("cron: time zone %q: %w", name, err)
	}
	return loc, nil
}

// parseDescriptor fills s from an @ descriptor and its arguments.
func parseDescriptor(s *Schedule, fields []string) (*Schedule, error) {
	name := strings.ToLower(fields[0])
	if name == "@every" {
		if len(fields) != 2 {
			return nil, fmt.Errorf("cron: @every takes one duration, got %d arguments", len(fields)-1)
		}
		d, err := time.ParseDuration(fields[1])
		if err != nil {
			return nil, fmt.Errorf("cron: @every: %w", err)
		}
		if d < time.Second {
			return nil, fmt.Errorf("cron: @every %q: interval must be at least 1s", fields[1])
		}
		if d%time.Second != 0 {
			return nil, fmt.Errorf("cron: @every %q: interval must be a whole number of seconds", fields[1])
		}
		s.every = d
		return s, nil
	}
	expansion, ok := descriptors[name]
	if !ok {
		return nil, fmt.Errorf("cron: unknown descriptor %q", fields[0])
	}
	if len(fields) != 1 {
		return nil, fmt.Errorf("cron: %s takes no arguments, got %q", fields[0], strings.Join(fields[1:], " "))
	}
	if err := s.setFields(strings.Fields(expansion)); err != nil {
		panic("cron: bad built-in descriptor " + name + ": " + err.Error())
	}
	return s, nil
}

// setFields parses the five cron fields into s.
func (s *Schedule) setFields(fields []string) error {
	var err error
	if s.minute, err = minuteField.parse(fields[0]); err != nil {
		return err
	}
	if s.hour, err = hourField.parse(fields[1]); err != nil {
		return err
	}
	if s.dom, err = domField.parse(fields[2]); err != nil {
		return err
	}
	if s.month, err = monthField.parse(fields[3]); err != nil {
		return err
	}
	if s.dow, err = dowField.parse(fields[4]); err != nil {
		return err
	}
	s.domStar = isStar(fields[2])
	s.dowStar = isStar(fields[4])
	s.followsElapsed = strings.HasPrefix(fields[0], "*") || strings.HasPrefix(fields[1], "*")
	return nil
}

// isStar reports whether a field leaves its unit unrestricted for the
// day-of-month/day-of-week rule: `*`, or the same set written `*/1`.
func isStar(text string) bool { return text == "*" || text == "*/1" }

// parse parses the text of the field into a bit set of its values.
func (f field) parse(text string) (uint64, error) {
	var set uint64
	for item := range strings.SplitSeq(text, ",") {
		bits, err := f.parseItem(item)
		if err != nil {
			return 0, fmt.Errorf("cron: %s field %q: %s", f.name, text, err)
		}
		set |= bits
	}
	return set, nil
}

// parseItem parses one list item: `*`, `a`, `a-b`, each with an optional
// `/n` step.
func (f field) parseItem(item string) (uint64, error) {
	if item == "" {
		return 0, errors.New("empty list item")
	}
	base, stepText, hasStep := strings.Cut(item, "/")
	lo, hi := f.min, f.max
	switch {
	case base == "*":
	case strings.Contains(base, "-"):
		a, b, _ := strings.Cut(base, "-")
		var err error
		if lo, err = f.value(a); err != nil {
			return 0, err
		}
		if hi, err = f.value(b); err != nil {
			return 0, err
		}
		if lo > hi {
			return 0, fmt.Errorf("range %s runs backwards", base)
		}
	default:
		v, err := f.value(base)
		if err != nil {
			return 0, err
		}
		lo = v
		if !hasStep {
			hi = v
		} else if v > hi {
			// a/n with a = 7 (Sunday) in day-of-week.
			hi = v
		}
	}
	step := 1
	if hasStep {
		maxStep := f.max - f.min
		if !isDigits(stepText) {
			return 0, fmt.Errorf("invalid step %q", stepText)
		}
		n, err := strconv.Atoi(stepText)
		if err != nil || n < 1 || n > maxStep {
			return 0, fmt.Errorf("step %s out of range 1-%d", stepText, maxStep)
		}
		step = n
	}
	var set uint64
	for v := lo; v <= hi; v += step {
		set |= 1 << uint(v)
	}
	if f.sunday7 && set&(1<<7) != 0 {
		set = set&^(1<<7) | 1 // 7 is Sunday, which is 0
	}
	return set, nil
}

// value parses a number or a name of the field and checks its range.
func (f field) value(text string) (int, error) {
	if v, ok := f.names[strings.ToLower(text)]; ok {
		return v, nil
	}
	if !isDigits(text) {
		if f.names != nil && len(text) == 3 {
			return 0, fmt.Errorf("unknown name %q", text)
		}
		return 0, fmt.Errorf("invalid value %q", text)
	}
	top := f.max
	if f.sunday7 {
		top = 7
	}
	v, err := strconv.Atoi(text)
	if err != nil || v < f.min || v > top {
		return 0, fmt.Errorf("value %s out of range %d-%d", text, f.min, top)
	}
	return v, nil
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
