package main

import (
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// series is one bar series of a grouped bar chart.
type series struct {
	name   string
	values []float64
}

// barChart draws grouped bars on a logarithmic y axis; missing values
// (NaN or not positive) draw no bar.
func barChart(path, title, ylabel string, groups []string, ss []series, floor float64) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Scale = clampedLog{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	top := floor
	const w = 11
	for i, s := range ss {
		vals := make(plotter.Values, len(s.values))
		for j, v := range s.values {
			if math.IsNaN(v) || v <= floor {
				v = floor // no visible bar
			}
			vals[j] = v
			top = max(top, v)
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(w))
		if err != nil {
			return err
		}
		bars.Offset = vg.Points(w * (float64(i) - float64(len(ss)-1)/2))
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(s.name, bars)
	}
	p.Y.Min, p.Y.Max = floor, top*40 // after Add, which widens the range to 0; room for the legend
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(groups...)
	p.Add(plotter.NewGrid())
	return p.Save(vg.Length(max(9, float64(len(groups)*len(ss))*0.2+2))*vg.Inch, 4.5*vg.Inch, path)
}

// clampedLog is a logarithmic scale on which values below the axis's
// minimum (the bars' base, 0) sit at the minimum.
type clampedLog struct{}

func (clampedLog) Normalize(min, max, x float64) float64 {
	return plot.LogScale{}.Normalize(min, max, math.Max(x, min))
}

// plots writes the PNG charts into dir and returns their paths.
func plots(rep *report, sums map[[2]string]*summary, dir string) ([]string, error) {
	var out []string
	get := func(row, name string, f func(*summary) float64) float64 {
		s := sums[[2]string{row, name}]
		if s == nil || s.Runs == 0 {
			return math.NaN()
		}
		return f(s)
	}
	rate := func(s *summary) float64 { return s.Rate }

	// Throughput: the rows that count jobs per second, Gantry against
	// each peer's best configuration.
	rows := []string{rowEnqueue, rowBatch, rowE2E, rowSleep, rowBacklog}
	type fam struct{ label, family string }
	fams := []fam{{"gantry (embedded)", "gantry"}, {"gantry (PostgreSQL)", "gantry-pg"}, {"River (better of default and best)", "river"},
		{"asynq (better of default and best; no persistence)", "asynq"}, {"asynq (AOF everysec, best settings)", "asynq-aof"}}
	var ss []series
	for _, f := range fams {
		s := series{name: f.label}
		any := false
		for _, row := range rows {
			name := bestOf(sums, row, f.family)
			v := get(row, name, rate)
			any = any || !math.IsNaN(v)
			s.values = append(s.values, v)
		}
		if any {
			ss = append(ss, s)
		}
	}
	if len(ss) > 0 {
		p := filepath.Join(dir, "peers-throughput.png")
		groups := []string{"enqueue (64 goroutines)", "batch of 1,000", "end to end, no-op", "end to end, 50 ms", "backlog work-off"}
		if err := barChart(p, "Throughput, medians (higher is better)", "jobs/s (log scale)", groups, ss, 10); err != nil {
			return nil, err
		}
		out = append(out, p)
	}

	// Pickup latency: every configuration.
	var names []string
	for _, name := range rowSystems[rowPickup] {
		if s := sums[[2]string{rowPickup, name}]; s != nil && s.Runs > 0 {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		p := filepath.Join(dir, "peers-pickup.png")
		if err := barChart(p, "Pickup latency on an idle queue, medians (lower is better)", "ms (log scale)", names, percentiles(rowPickup, names, get), 0.01); err != nil {
			return nil, err
		}
		out = append(out, p)
	}

	// The seed scenario: latency and memory.
	names = names[:0]
	for _, name := range rowSystems[rowSeed] {
		if s := sums[[2]string{rowSeed, name}]; s != nil && s.Runs > 0 {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		p := filepath.Join(dir, "peers-seed-latency.png")
		title := "1,000,000 requests in a minute: latency from intended send time, medians"
		if err := barChart(p, title, "ms (log scale)", names, percentiles(rowSeed, names, get), 0.01); err != nil {
			return nil, err
		}
		out = append(out, p)
		p, err := rssTimeline(rep, dir)
		if err != nil {
			return nil, err
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// percentiles returns the p50 and p99 series of a row's systems.
func percentiles(row string, names []string, get func(row, name string, f func(*summary) float64) float64) []series {
	p50 := series{name: "p50"}
	p99 := series{name: "p99"}
	for _, n := range names {
		p50.values = append(p50.values, get(row, n, func(s *summary) float64 { return s.P50 }))
		p99.values = append(p99.values, get(row, n, func(s *summary) float64 { return s.P99 }))
	}
	return []series{p50, p99}
}

// rssTimeline plots each seed-row server's RSS over its first run.
func rssTimeline(rep *report, dir string) (string, error) {
	p := plot.New()
	p.Title.Text = "1,000,000 requests in a minute: resident memory of the server (first run)"
	p.X.Label.Text = "seconds from the start of the load (warm-up included)"
	p.Y.Label.Text = "RSS, MiB"
	n := 0
	for _, r := range rep.Results {
		if r.Row != rowSeed || r.Run != 1 || r.Err != "" {
			continue
		}
		var tl []float64
		switch v := r.Extra["rss_timeline_mib"].(type) {
		case []float64:
			tl = v
		case []any: // read back from runs.json
			for _, x := range v {
				f, _ := x.(float64)
				tl = append(tl, f)
			}
		}
		if len(tl) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(tl))
		for i, v := range tl {
			xys[i] = plotter.XY{X: float64(i), Y: v}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return "", err
		}
		l.Color = plotutil.Color(n)
		l.Width = vg.Points(2)
		p.Add(l)
		p.Legend.Add(r.System, l)
		n++
	}
	if n == 0 {
		return "", nil
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	p.BackgroundColor = color.White
	path := filepath.Join(dir, "peers-seed-rss.png")
	return path, p.Save(9*vg.Inch, 4.5*vg.Inch, path)
}
