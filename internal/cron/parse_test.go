package cron

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the time zone cases pass without a system database
)

// validSpecs parse without error. FuzzParse seeds its corpus with them.
var validSpecs = []string{
	"* * * * *",
	"0 0 * * *",
	"*/5 * * * *",
	"0-59/15 * * * *",
	"5/20 * * * *",
	"1,2,3 4-6 7 8 *",
	"0 9-17 * * MON-FRI",
	"0 9-17 * * mon-fri",
	"0 0 1 JAN,jul *",
	"0 0 * * 7",
	"0 0 * * 5-7",
	"0 0 * * SUN",
	"0 0 1 * MON",
	"0 0 29 2 *",
	"0 0 30 2 *",
	"00 05 01 01 00",
	"59 23 31 12 6",
	"\t0  0\t* *   * ",
	"*/1 * */1 * */1",
	"@yearly",
	"@annually",
	"@monthly",
	"@weekly",
	"@daily",
	"@midnight",
	"@hourly",
	"@DAILY",
	"@every 1s",
	"@every 5m",
	"@every 1h30m",
	"@every 8760h",
	"CRON_TZ=America/New_York 30 2 * * *",
	"TZ=Europe/Berlin 0 0 * * *",
	"TZ=UTC @hourly",
	"CRON_TZ=Asia/Tokyo @every 1h",
	"TZ=Australia/Lord_Howe */10 * * * *",
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	for _, spec := range validSpecs {
		s, err := Parse(spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", spec, err)
			continue
		}
		if got := s.String(); got != spec {
			t.Errorf("Parse(%q).String() = %q", spec, got)
		}
	}
}

// TestParseSame checks that specs that must mean the same thing parse to the
// same schedule.
func TestParseSame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b string }{
		{"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
		{"@monthly", "0 0 1 * *"},
		{"@weekly", "0 0 * * 0"},
		{"@daily", "0 0 * * *"},
		{"@midnight", "0 0 * * *"},
		{"@hourly", "0 * * * *"},
		{"0 0 * * 7", "0 0 * * 0"},
		{"0 0 * * sun", "0 0 * * 0"},
		{"0 0 * * 5-7", "0 0 * * 0,5,6"},
		{"0 0 * * 7/2", "0 0 * * 0"},
		{"0 0 * * */2", "0 0 * * 0,2,4,6"},
		{"0 0 * * 1/2", "0 0 * * 1,3,5"},
		{"0 0 * * Mon-Fri", "0 0 * * 1-5"},
		{"0 0 * jan-MAR *", "0 0 * 1-3 *"},
		{"0 0 * */3 *", "0 0 * 1,4,7,10 *"},
		{"*/15 * * * *", "0,15,30,45 * * * *"},
		{"0-59/15 * * * *", "0,15,30,45 * * * *"},
		{"5/20 * * * *", "5,25,45 * * * *"},
		{"10-20/5 * * * *", "10,15,20 * * * *"},
		{"*/59 * * * *", "0,59 * * * *"},
		{"0 */6 * * *", "0 0,6,12,18 * * *"},
		{"0 0 */10 * *", "0 0 1,11,21,31 * *"},
		{"0 0 */1 * *", "0 0 * * *"},
		{"07 08 * * *", "7 8 * * *"},
		{"1,1,1 * * * *", "1 * * * *"},
	} {
		a, err := Parse(tc.a)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.a, err)
		}
		b, err := Parse(tc.b)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.b, err)
		}
		a.spec, b.spec = "", ""
		a.followsElapsed, b.followsElapsed = false, false
		if *a != *b {
			t.Errorf("Parse(%q) = %+v, Parse(%q) = %+v; want the same", tc.a, *a, tc.b, *b)
		}
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec                             string
		domStar, dowStar, followsElapsed bool
	}{
		{"* * * * *", true, true, true},
		{"0 0 1 * MON", false, false, false},
		{"0 0 */1 * 1", true, false, false},
		{"0 0 1-31 * 1", false, false, false},
		{"0 0 */2 * 1", false, false, false},
		{"*/5 3 * * *", true, true, true},
		{"0 * * * *", true, true, true},
		{"0 */2 * * *", true, true, true},
		{"0 0-23 * * *", true, true, false},
		{"@hourly", true, true, true},
		{"@daily", true, true, false},
	} {
		s, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.spec, err)
		}
		if s.domStar != tc.domStar || s.dowStar != tc.dowStar || s.followsElapsed != tc.followsElapsed {
			t.Errorf("Parse(%q): domStar %v dowStar %v followsElapsed %v; want %v %v %v", tc.spec,
				s.domStar, s.dowStar, s.followsElapsed, tc.domStar, tc.dowStar, tc.followsElapsed)
		}
	}
}

func TestParseLocation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want string }{
		{"* * * * *", "UTC"},
		{"@every 1m", "UTC"},
		{"TZ=UTC * * * * *", "UTC"},
		{"CRON_TZ=America/New_York * * * * *", "America/New_York"},
		{"TZ=Europe/Berlin\t@daily", "Europe/Berlin"},
	} {
		s, err := Parse(tc.spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.spec, err)
		}
		if got := s.Location().String(); got != tc.want {
			t.Errorf("Parse(%q).Location() = %s, want %s", tc.spec, got, tc.want)
		}
	}
}

// invalidSpecs fail to parse with the error given. FuzzParse seeds its corpus
// with them.
var invalidSpecs = []struct{ spec, err string }{
	{"", `cron: empty spec`},
	{"   ", `cron: empty spec`},
	{"* * * *", `cron: expected 5 fields, got 4 in "* * * *"`},
	{"* * * * * *", `cron: expected 5 fields, got 6 in "* * * * * *"`},
	{"61 * * * *", `cron: minute field "61": value 61 out of range 0-59`},
	{"5,61 * * * *", `cron: minute field "5,61": value 61 out of range 0-59`},
	{"99999999999999999999 * * * *", `cron: minute field "99999999999999999999": value 99999999999999999999 out of range 0-59`},
	{"-1 * * * *", `cron: minute field "-1": invalid value ""`},
	{"+1 * * * *", `cron: minute field "+1": invalid value "+1"`},
	{"* 24 * * *", `cron: hour field "24": value 24 out of range 0-23`},
	{"* * 0 * *", `cron: day-of-month field "0": value 0 out of range 1-31`},
	{"* * 32 * *", `cron: day-of-month field "32": value 32 out of range 1-31`},
	{"* * * 0 *", `cron: month field "0": value 0 out of range 1-12`},
	{"* * * 13 *", `cron: month field "13": value 13 out of range 1-12`},
	{"* * * FOO *", `cron: month field "FOO": unknown name "FOO"`},
	{"* * * January *", `cron: month field "January": invalid value "January"`},
	{"* * * * 8", `cron: day-of-week field "8": value 8 out of range 0-7`},
	{"* * * * MON-FOO", `cron: day-of-week field "MON-FOO": unknown name "FOO"`},
	{"* * * * JAN", `cron: day-of-week field "JAN": unknown name "JAN"`},
	{"* * MON * *", `cron: day-of-month field "MON": invalid value "MON"`},
	{"1,,2 * * * *", `cron: minute field "1,,2": empty list item`},
	{"1, * * * *", `cron: minute field "1,": empty list item`},
	{"5-3 * * * *", `cron: minute field "5-3": range 5-3 runs backwards`},
	{"* * * * FRI-SUN", `cron: day-of-week field "FRI-SUN": range FRI-SUN runs backwards`},
	{"1-2-3 * * * *", `cron: minute field "1-2-3": invalid value "2-3"`},
	{"1- * * * *", `cron: minute field "1-": invalid value ""`},
	{"*-5 * * * *", `cron: minute field "*-5": invalid value "*"`},
	{"*/0 * * * *", `cron: minute field "*/0": step 0 out of range 1-59`},
	{"*/60 * * * *", `cron: minute field "*/60": step 60 out of range 1-59`},
	{"* */24 * * *", `cron: hour field "*/24": step 24 out of range 1-23`},
	{"*/99999999999999999999 * * * *", `cron: minute field "*/99999999999999999999": step 99999999999999999999 out of range 1-59`},
	{"*/ * * * *", `cron: minute field "*/": invalid step ""`},
	{"*/x * * * *", `cron: minute field "*/x": invalid step "x"`},
	{"*/-1 * * * *", `cron: minute field "*/-1": invalid step "-1"`},
	{"*/2/3 * * * *", `cron: minute field "*/2/3": invalid step "2/3"`},
	{"/5 * * * *", `cron: minute field "/5": invalid value ""`},
	{"? * * * *", `cron: minute field "?": invalid value "?"`},
	{"L * * * *", `cron: minute field "L": invalid value "L"`},
	{"@fortnightly", `cron: unknown descriptor "@fortnightly"`},
	{"@", `cron: unknown descriptor "@"`},
	{"@daily 5", `cron: @daily takes no arguments, got "5"`},
	{"@every", `cron: @every takes one duration, got 0 arguments`},
	{"@every 1m 2m", `cron: @every takes one duration, got 2 arguments`},
	{"@every 5x", `cron: @every: time: unknown unit "x" in duration "5x"`},
	{"@every 0s", `cron: @every "0s": interval must be at least 1s`},
	{"@every -5m", `cron: @every "-5m": interval must be at least 1s`},
	{"@every 999ms", `cron: @every "999ms": interval must be at least 1s`},
	{"@every 1500ms", `cron: @every "1500ms": interval must be a whole number of seconds`},
	{"TZ=", `cron: empty time zone`},
	{"TZ= * * * * *", `cron: empty time zone`},
	{"TZ=UTC", `cron: no schedule after the time zone in "TZ=UTC"`},
	{"CRON_TZ=UTC   ", `cron: no schedule after the time zone in "CRON_TZ=UTC   "`},
	{"TZ=Local * * * * *", `cron: time zone "Local" is refused: it depends on the machine; name a location such as "Europe/Paris"`},
	{"TZ=Mars/Olympus_Mons * * * * *", `cron: time zone "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons`},
	{"TZ=../../etc/passwd * * * * *", `cron: time zone "../../etc/passwd": time: invalid location name`},
	{"TZ=America/New_York * * * *", `cron: expected 5 fields, got 4 in "TZ=America/New_York * * * *"`},
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range invalidSpecs {
		s, err := Parse(tc.spec)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error %q", tc.spec, s, tc.err)
			continue
		}
		if err.Error() != tc.err {
			t.Errorf("Parse(%q) error:\n got %s\nwant %s", tc.spec, err, tc.err)
		}
		if s != nil {
			t.Errorf("Parse(%q) returned a schedule with its error", tc.spec)
		}
	}
}

// TestParseErrorNamesValue checks the promise of the package: the error of a
// bad field names the field and quotes it.
func TestParseErrorNamesValue(t *testing.T) {
	t.Parallel()
	names := []string{"minute", "hour", "day-of-month", "month", "day-of-week"}
	for i, name := range names {
		fields := []string{"*", "*", "*", "*", "*"}
		fields[i] = "1,x7"
		_, err := Parse(strings.Join(fields, " "))
		if err == nil {
			t.Fatalf("field %s: no error", name)
		}
		want := "cron: " + name + ` field "1,x7": invalid value "x7"`
		if err.Error() != want {
			t.Errorf("field %s: error %q, want %q", name, err, want)
		}
	}
}

// TestZeroSchedule checks that a Schedule not made by Parse does not panic.
func TestZeroSchedule(t *testing.T) {
	t.Parallel()
	var s Schedule
	if got := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); !got.IsZero() {
		t.Errorf("zero Schedule: Next = %v, want the zero Time", got)
	}
	if s.Location() != time.UTC {
		t.Errorf("zero Schedule: Location = %v, want UTC", s.Location())
	}
}
