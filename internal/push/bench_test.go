package push

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"
)

// benchEnv turns on TestDownstreamBench (make bench-push).
const benchEnv = "GANTRY_PUSH_BENCH"

// TestDownstreamBench is the full downstream check of docs/benchmarks.md
// ("Push"): the bounds, a sweep of fixed concurrencies, a capacity
// that halves and comes back, with a plot. About 110 s; set
// GANTRY_PUSH_BENCH=1 (make bench-push). GANTRY_PUSH_BENCH_OUT names the
// directory docs/ to write the plot into (docs/img/push-adaptive.png) and
// prints the figures as a Markdown table.
func TestDownstreamBench(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skipf("the full downstream benchmark takes about 110 s: set %s=1 (make bench-push)", benchEnv)
	}
	const L, C = 10 * time.Millisecond, 16
	newDS := func() *downstream {
		ds := &downstream{L: L}
		ds.C.Store(C)
		return ds
	}
	var report strings.Builder
	row := func(format string, args ...any) {
		fmt.Fprintf(&report, format+"\n", args...)
		t.Logf(format, args...)
	}

	// 1. Adaptive from min 1: settling, errors, goodput.
	ad := drive(t, newDS(), NewLimiter(1, 64, nil), 20*time.Second, 10*time.Second, nil)
	settle := settledAt(ad.limits, C, 0.2)
	row("| adaptive 1..64 | %.0f | %.1f | %.2f%% | limit settled within 20%% of C at %.1f s, median limit %d |",
		ad.goodput(), ad.p99()*1000, ad.errorRate()*100, float64(settle)/10, median(ad.limits[100:]))
	if settle < 0 || settle > 100 {
		t.Errorf("the limit did not settle within 20%% of %d within 10 s (tick %d); limits %v", C, settle, ad.limits)
	}
	if e := ad.errorRate(); e >= 0.01 {
		t.Errorf("error rate after settling %.2f%%, want below 1%%", e*100)
	}

	// The candidate rule probing, beside it (decision 0012).
	old := drive(t, newDS(), newProbingLimiter(1, 64, nil), 20*time.Second, 10*time.Second, nil)
	row("| adaptive 1..64, candidate rule probing | %.0f | %.1f | %.2f%% | median limit %d |",
		old.goodput(), old.p99()*1000, old.errorRate()*100, median(old.limits[100:]))

	// 2. Fixed concurrencies.
	best, bestN := 0.0, 0
	var fixed64 *run
	for _, n := range []int{4, 8, 12, 16, 20, 24, 32, 64} {
		r := drive(t, newDS(), NewLimiter(n, n, nil), 5*time.Second, time.Second, nil)
		row("| fixed %d | %.0f | %.1f | %.2f%% | |", n, r.goodput(), r.p99()*1000, r.errorRate()*100)
		if r.goodput() > best {
			best, bestN = r.goodput(), n
		}
		if n == 4*C {
			fixed64 = r
		}
	}
	if ad.goodput() < 0.9*best {
		t.Errorf("adaptive goodput %.0f/s is below 90%% of the best fixed (%d: %.0f/s)", ad.goodput(), bestN, best)
	}
	if !(fixed64.p99() >= 2*ad.p99() || fixed64.errorRate() >= 5*ad.errorRate() && fixed64.errorRate() > 0) {
		t.Errorf("fixed 4xC: p99 %.1f ms, errors %.2f%%; adaptive %.1f ms, %.2f%%: want 2x the p99 or 5x the errors",
			fixed64.p99()*1000, fixed64.errorRate()*100, ad.p99()*1000, ad.errorRate()*100)
	}
	row("")
	row("Adaptive goodput is %.0f%% of the best fixed concurrency (%d); with the candidate rule probing, %.0f%%.", 100*ad.goodput()/best, bestN, 100*old.goodput()/best)

	// 3. C halves at 10 s and comes back at 20 s.
	ds := newDS()
	ch := drive(t, ds, NewLimiter(1, 64, nil), 30*time.Second, 0, func(el time.Duration) {
		switch {
		case el >= 20*time.Second:
			ds.C.Store(C)
		case el >= 10*time.Second:
			ds.C.Store(C / 2)
		}
	})
	// Following: the limit is within 20% of the new capacity, and the
	// median of the rest of the phase is too.
	down := firstWithin(ch.limits[100:200], C/2, 0.2)
	up := firstWithin(ch.limits[200:], C, 0.2)
	mDown, mUp := median(ch.limits[100+max(down, 0):200]), median(ch.limits[200+max(up, 0):])
	row("When C halves at 10 s the limit is within 20%% of %d after %.1f s (median %d for the rest of the phase); when C comes back at 20 s, within 20%% of %d after %.1f s (median %d).",
		C/2, float64(down+1)/10, mDown, C, float64(up+1)/10, mUp)
	if down < 0 || up < 0 || mDown < C/2*8/10 || mDown > C/2*12/10 || mUp < C*8/10 || mUp > C*12/10 {
		t.Errorf("the limit did not follow the capacity within 10 s: %d, %d ticks; limits %v", down, up, ch.limits)
	}
	if dir := os.Getenv(benchEnv + "_OUT"); dir != "" {
		if err := plot(dir+"/img/push-adaptive.png", ch.limits, ch.caps); err != nil {
			t.Fatal(err)
		}
		fmt.Println("| run | goodput (jobs/s) | p99 (ms) | errors | notes |")
		fmt.Println("| --- | --- | --- | --- | --- |")
		fmt.Print(report.String())
	}
}

// settledAt returns the first tick whose limit is within frac of want and
// from which at least 90% of the ticks are, or -1.
func settledAt(limits []int, want int, frac float64) int {
	for i := range limits {
		if within(limits[i:i+1], 0, want, frac) == 1 && within(limits, i, want, frac) >= 0.9 {
			return i
		}
	}
	return -1
}

// plot draws the limit (blue) and the capacity (grey) over time, one
// column per tick, to a PNG.
func plot(path string, limits, caps []int) error {
	const w, h, scale = 600, 240, 3 // 3 px per unit of concurrency
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.White)
		}
	}
	grey, blue, axis := color.RGBA{160, 160, 160, 255}, color.RGBA{30, 90, 200, 255}, color.RGBA{0, 0, 0, 255}
	for y := range h {
		img.Set(20, y, axis)
	}
	for x := 20; x < w; x++ {
		img.Set(x, h-20, axis)
	}
	// Ticks every 8 units of concurrency and every 5 s.
	for v := 8; (h-20)-v*scale > 0; v += 8 {
		for x := 14; x < 20; x++ {
			img.Set(x, (h-20)-v*scale, axis)
		}
	}
	colw := float64(w-20) / float64(len(limits))
	for s := 50; s < len(limits); s += 50 {
		x := 20 + int(float64(s)*colw)
		for y := h - 20; y < h-14; y++ {
			img.Set(x, y, axis)
		}
	}
	line := func(vals []int, c color.Color) {
		for i, v := range vals {
			y := (h - 20) - v*scale
			for x := 20 + int(float64(i)*colw); x < 20+int(float64(i+1)*colw); x++ {
				for dy := -1; dy <= 1; dy++ {
					if y+dy > 0 && y+dy < h {
						img.Set(x, y+dy, c)
					}
				}
			}
		}
	}
	line(caps, grey)
	line(limits, blue)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
