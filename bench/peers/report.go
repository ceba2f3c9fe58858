package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// summary is the medians of one (row, system) over its runs.
type summary struct {
	Row, System string
	Runs        int
	Failed      int
	Errs        []string
	Rate        float64 // median
	RateMin     float64
	RateMax     float64
	P50, P99    float64
	P99Min      float64
	P99Max      float64
	PeakRSS     int64
	ServerRSS   int64
	Elapsed     time.Duration
	Fill        time.Duration
	Capped      int
	KeptUp      int
	Efficiency  float64
	BacklogN    int
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarizeRuns groups the results by row and system, in run order.
func summarizeRuns(rs []*result) map[[2]string]*summary {
	out := map[[2]string]*summary{}
	type acc struct{ rate, p50, p99, rss, srv, el, fill, eff []float64 }
	accs := map[[2]string]*acc{}
	for _, r := range rs {
		k := [2]string{r.Row, r.System}
		s := out[k]
		if s == nil {
			s = &summary{Row: r.Row, System: r.System}
			out[k] = s
			accs[k] = &acc{}
		}
		a := accs[k]
		if r.Err != "" {
			s.Failed++
			s.Errs = append(s.Errs, r.Err)
			continue
		}
		s.Runs++
		a.rate = append(a.rate, r.Rate)
		if r.Latency != nil {
			a.p50 = append(a.p50, r.Latency.P50)
			a.p99 = append(a.p99, r.Latency.P99)
		}
		a.rss = append(a.rss, float64(r.PeakRSS))
		a.srv = append(a.srv, float64(r.ServerRSS))
		a.el = append(a.el, float64(r.Elapsed))
		a.fill = append(a.fill, float64(r.Fill))
		if e, ok := r.Extra["efficiency"].(float64); ok {
			a.eff = append(a.eff, e)
		}
		if r.Capped {
			s.Capped++
		}
		if r.Row == rowBacklog {
			s.BacklogN = max(s.BacklogN, int(r.Jobs))
			if n, ok := r.Extra["backlog_jobs"].(float64); ok {
				s.BacklogN = int(n)
			}
		}
		if r.KeptUp != nil && *r.KeptUp {
			s.KeptUp++
		}
	}
	for k, s := range out {
		a := accs[k]
		if s.Runs == 0 {
			continue
		}
		s.Rate = median(a.rate)
		s.RateMin, s.RateMax = slices.Min(a.rate), slices.Max(a.rate)
		if len(a.p50) > 0 {
			s.P50, s.P99 = median(a.p50), median(a.p99)
			s.P99Min, s.P99Max = slices.Min(a.p99), slices.Max(a.p99)
		}
		s.PeakRSS = int64(median(a.rss))
		s.ServerRSS = int64(median(a.srv))
		s.Elapsed = time.Duration(median(a.el))
		s.Fill = time.Duration(median(a.fill))
		if len(a.eff) > 0 {
			s.Efficiency = median(a.eff)
		}
	}
	return out
}

// bestOf returns the system whose figures stand for a peer family in a
// row: of its default and best configurations, the one with the better
// median in that row, so that the ratios never flatter Gantry.
func bestOf(sums map[[2]string]*summary, row, family string) string {
	pick := ""
	for _, name := range []string{family + "-best", family, family + "-default"} {
		s := sums[[2]string{row, name}]
		if s == nil || s.Runs == 0 {
			continue
		}
		if pick == "" {
			pick = name
			continue
		}
		cur := headline(sums[[2]string{row, pick}])
		if (lowerIsBetter(row) && headline(s) < cur) || (!lowerIsBetter(row) && headline(s) > cur) {
			pick = name
		}
	}
	return pick
}

// gantryFor is the Gantry system a row compares with.
func gantryFor(row string) string {
	if row == rowSeed {
		return "gantry-http"
	}
	return "gantry"
}

// lowerIsBetter: the row's headline figure is a latency.
func lowerIsBetter(row string) bool { return row == rowPickup || row == rowSeed }

// headline is the figure ratios compare: jobs/s, or a latency in ms.
func headline(s *summary) float64 {
	switch s.Row {
	case rowPickup:
		return s.P50
	case rowSeed:
		return s.P99
	}
	return s.Rate
}

func ratio(sums map[[2]string]*summary, row, a, b string) (float64, bool) {
	sa, sb := sums[[2]string{row, a}], sums[[2]string{row, b}]
	if sa == nil || sb == nil || sa.Runs == 0 || sb.Runs == 0 || headline(sb) == 0 || sb.Rate == 0 {
		return 0, false
	}
	return headline(sa) / headline(sb), true
}

func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtMs(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f ms", x)
	case x >= 10:
		return fmt.Sprintf("%.1f ms", x)
	}
	return fmt.Sprintf("%.2f ms", x)
}

// cell is the median cell of a summary.
func cell(s *summary) (median, spread, more string) {
	if s.Runs == 0 {
		return "failed", "", strings.Join(s.Errs, "; ")
	}
	switch s.Row {
	case rowPickup:
		median = "p50 **" + fmtMs(s.P50) + "**"
		spread = fmt.Sprintf("p99 %s (%s-%s)", fmtMs(s.P99), fmtMs(s.P99Min), fmtMs(s.P99Max))
	case rowSeed:
		median = "p99 **" + fmtMs(s.P99) + "**"
		if s.Rate == 0 {
			median = "**no answer**"
		}
		spread = fmt.Sprintf("%s-%s", fmtMs(s.P99Min), fmtMs(s.P99Max))
		more = fmt.Sprintf("p50 %s; kept up %d/%d; peak RSS %s; %s req/s", fmtMs(s.P50), s.KeptUp, s.Runs, mib(s.PeakRSS), thousands(s.Rate))
	default:
		median = "**" + thousands(s.Rate) + "** jobs/s"
		spread = thousands(s.RateMin) + "-" + thousands(s.RateMax)
	}
	switch s.Row {
	case rowBacklog:
		more = fmt.Sprintf("drained in %v, peak RSS %s, fill %v", s.Elapsed.Round(100*time.Millisecond), mib(s.PeakRSS), s.Fill.Round(100*time.Millisecond))
		if s.Capped > 0 {
			more = fmt.Sprintf("%d/%d runs stopped at the %v cap; at the median rate %s jobs take %v; peak RSS %s, fill %v",
				s.Capped, s.Runs,
				s.Elapsed.Round(time.Second), thousands(float64(s.BacklogN)), (time.Duration(float64(s.BacklogN)/s.Rate) * time.Second).Round(time.Second),
				mib(s.PeakRSS), s.Fill.Round(100*time.Millisecond))
		}
		if s.ServerRSS > 0 {
			more += ", redis-server RSS " + mib(s.ServerRSS)
		}
	case rowSleep:
		more = fmt.Sprintf("%.0f%% of the %d workers' ceiling (%s jobs/s)", 100*s.Efficiency, sleepWorkers, thousands(float64(sleepWorkers)/sleepFor.Seconds()))
	}
	if s.Row == rowSeed && s.Rate == 0 {
		spread, more = "", fmt.Sprintf("no request answered: each timed out (10 s) or was never sent; kept up 0/%d; peak RSS %s", s.Runs, mib(s.PeakRSS))
	}
	switch {
	case s.Capped == 0 || s.Row == rowBacklog:
	case s.Row == rowPickup:
		more = strings.TrimPrefix(more+fmt.Sprintf("; %d/%d runs got fewer samples within the time cap", s.Capped, s.Runs), "; ")
	default:
		more = strings.TrimPrefix(more+fmt.Sprintf("; %d/%d runs hit the time cap: rate over the jobs done", s.Capped, s.Runs), "; ")
	}
	if s.Failed > 0 {
		more = strings.TrimPrefix(more+fmt.Sprintf("; %d run(s) failed: %s", s.Failed, s.Errs[0]), "; ")
	}
	return median, spread, more
}

func fmtRatio(x float64, ok bool) string {
	if !ok {
		return ""
	}
	switch {
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	case x < 0.01:
		return fmt.Sprintf("%.2g×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}

// table renders the medians as Markdown.
func table(rep *report, sums map[[2]string]*summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| row | system | median of %d | range | more | gantry / this | gantry-pg / this |\n", rep.Runs)
	b.WriteString("| --- | --- | ---: | ---: | --- | ---: | ---: |\n")
	for _, row := range rowOrder {
		for _, name := range rowSystems[row] {
			s := sums[[2]string{row, name}]
			if s == nil {
				continue
			}
			med, spread, more := cell(s)
			var r1, r2 string
			if !strings.HasPrefix(name, "gantry") {
				r1 = fmtRatio(ratio(sums, row, gantryFor(row), name))
				if row != rowSeed {
					r2 = fmtRatio(ratio(sums, row, "gantry-pg", name))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", row, name, med, spread, more, r1, r2)
		}
	}
	return b.String()
}

// target is one target of the issues, checked against the medians.
type target struct {
	Name   string `json:"name"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Met    bool   `json:"met"`
	Absent bool   `json:"absent,omitempty"`
}

func targets(sums map[[2]string]*summary) []target {
	var ts []target
	// atLeast: gantry's figure over the peer's at least want (or, for
	// latencies, at most 1/want).
	cmp := func(name, row, a, family string, want float64) {
		peer := bestOf(sums, row, family)
		t := target{Name: name}
		if lowerIsBetter(row) {
			t.Want = fmt.Sprintf("%s / %s <= %.2f", a, family, 1/want)
		} else {
			t.Want = fmt.Sprintf("%s / %s >= %.2g", a, family, want)
		}
		r, ok := ratio(sums, row, a, peer)
		if peer == "" || !ok {
			t.Absent, t.Got = true, "not measured"
			ts = append(ts, t)
			return
		}
		t.Got = fmt.Sprintf("%s (%s: %s against %s: %s)", fmtRatio(r, true), a, fig(sums, row, a), peer, fig(sums, row, peer))
		if lowerIsBetter(row) {
			t.Met = r <= 1/want
		} else {
			t.Met = r >= want
		}
		ts = append(ts, t)
	}
	cmp("enqueue one at a time: 10× River", rowEnqueue, "gantry", "river", 10)
	cmp("batch enqueue: 3× River", rowBatch, "gantry", "river", 3)
	cmp("end to end (no-op): 2× River", rowE2E, "gantry", "river", 2)
	cmp("end to end (no-op): 2× asynq", rowE2E, "gantry", "asynq", 2)
	cmp("end to end (50 ms, 100 workers): 2× River", rowSleep, "gantry", "river", 2)
	cmp("end to end (50 ms, 100 workers): 2× asynq", rowSleep, "gantry", "asynq", 2)
	cmp("backlog work-off: 2× River", rowBacklog, "gantry", "river", 2)
	cmp("backlog work-off: 2× asynq", rowBacklog, "gantry", "asynq", 2)
	cmp("pickup p50: 2× lower than River", rowPickup, "gantry", "river", 2)
	cmp("pickup p50: 2× lower than asynq", rowPickup, "gantry", "asynq", 2)
	for _, row := range []string{rowEnqueue, rowBatch, rowE2E, rowSleep, rowPickup, rowBacklog} {
		cmp("gantry-pg at least River: "+row, row, "gantry-pg", "river", 1)
	}
	if s := sums[[2]string{rowPickup, "gantry-pg"}]; s != nil && s.Runs > 0 {
		ts = append(ts, target{Name: "gantry-pg pickup p50 under 5 ms", Want: "< 5 ms", Got: fmtMs(s.P50), Met: s.P50 < 5})
	}
	if s := sums[[2]string{rowSeed, "gantry-http"}]; s != nil && s.Runs > 0 {
		ts = append(ts, target{Name: "seed scenario held by gantry serve: kept up, p99 under 50 ms",
			Want: "kept up in every run, p99 < 50 ms",
			Got:  fmt.Sprintf("kept up %d/%d, p99 %s", s.KeptUp, s.Runs, fmtMs(s.P99)),
			Met:  s.KeptUp == s.Runs && s.P99 < 50})
		ts = append(ts, target{Name: "seed scenario: bounded memory", Want: "peak RSS bounded (under 1 GiB) while the backlog grows in the store",
			Got: "peak RSS " + mib(s.PeakRSS), Met: s.PeakRSS < 1<<30})
	}
	return ts
}

// fig is a summary's headline figure as text.
func fig(sums map[[2]string]*summary, row, name string) string {
	s := sums[[2]string{row, name}]
	switch row {
	case rowPickup:
		return "p50 " + fmtMs(s.P50)
	case rowSeed:
		return "p99 " + fmtMs(s.P99)
	}
	return thousands(s.Rate) + " jobs/s"
}

func targetTable(ts []target) string {
	var b strings.Builder
	b.WriteString("| target | wanted | got (medians) | met |\n| --- | --- | --- | --- |\n")
	for _, t := range ts {
		if t.Absent { // a row -only left out
			continue
		}
		met := "**no**"
		switch {
		case t.Absent:
			met = "not run"
		case t.Met:
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Want, t.Got, met)
	}
	return b.String()
}

// writeReport writes runs.json, results.md and the plots, and prints the
// table.
func writeReport(rep *report, o *options, w io.Writer) error {
	sums := summarizeRuns(rep.Results)
	ts := targets(sums)
	b, err := json.MarshalIndent(struct {
		*report
		Targets []target `json:"targets"`
	}{rep, ts}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "runs.json"), b, 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Medians of %d run(s) per row; started %s, took %v; load average before %v, after %v.\n\n",
		rep.Runs, rep.Started.Format(time.RFC3339), rep.Machine["duration"], rep.Machine["load_average_before"], rep.Machine["load_average_after"])
	md.WriteString(table(rep, sums))
	md.WriteString("\n")
	md.WriteString(targetTable(ts))
	if len(rep.Skipped) > 0 {
		md.WriteString("\nSkipped:\n\n")
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range rep.Skipped {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&md, "- %s\n", rep.Skipped[k])
		}
	}
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, md.String())
	pngs, err := plots(rep, sums, o.out)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	for _, p := range pngs {
		fmt.Fprintln(w, "wrote", p)
		if o.img != "" {
			if err := os.MkdirAll(o.img, 0o755); err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			dst := filepath.Join(o.img, filepath.Base(p))
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintln(w, "copied to", dst)
		}
	}
	fmt.Fprintln(w, "wrote", filepath.Join(o.out, "runs.json"), "and", filepath.Join(o.out, "results.md"))
	return nil
}
