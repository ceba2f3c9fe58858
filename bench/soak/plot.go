package main

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"sort"
)

// Plot sizes, in pixels.
const (
	plotW, plotH = 800, 240
	margin       = 20
)

var (
	white = color.RGBA{255, 255, 255, 255}
	grey  = color.RGBA{220, 220, 220, 255}
	black = color.RGBA{0, 0, 0, 255}
	blue  = color.RGBA{31, 119, 180, 255}
	red   = color.RGBA{214, 39, 40, 255}
)

// drawPlot renders values over time (xs, seconds) as a line on a white
// image with a grid: ten vertical lines, one horizontal line per quarter
// of the range from 0 to the largest value (so that a flat line reads as
// flat), and a red vertical line at windowStart, where the window of the
// flatness check begins.
func drawPlot(w io.Writer, xs, ys []float64, windowStart float64) error {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	for y := range plotH {
		for x := range plotW {
			img.Set(x, y, white)
		}
	}
	maxX, maxY := 1.0, 1.0
	for i := range xs {
		maxX = math.Max(maxX, xs[i])
		maxY = math.Max(maxY, ys[i])
	}
	maxY *= 1.1
	px := func(x float64) int { return margin + int(x/maxX*float64(plotW-2*margin)) }
	py := func(y float64) int { return plotH - margin - int(y/maxY*float64(plotH-2*margin)) }
	for i := 0; i <= 10; i++ {
		vline(img, margin+i*(plotW-2*margin)/10, grey)
	}
	for i := 0; i <= 4; i++ {
		hline(img, py(maxY/1.1*float64(i)/4), grey)
	}
	vline(img, margin, black)
	hline(img, py(0), black)
	if windowStart > 0 {
		vline(img, px(windowStart), red)
	}
	for i := 1; i < len(xs); i++ {
		line(img, px(xs[i-1]), py(ys[i-1]), px(xs[i]), py(ys[i]), blue)
	}
	return png.Encode(w, img)
}

func vline(img *image.RGBA, x int, c color.Color) {
	for y := margin; y <= plotH-margin; y++ {
		img.Set(x, y, c)
	}
}

func hline(img *image.RGBA, y int, c color.Color) {
	for x := margin; x <= plotW-margin; x++ {
		img.Set(x, y, c)
	}
}

// line draws from (x0, y0) to (x1, y1), two pixels thick (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// growth is how much the metric grew over the window that starts at
// windowStart (seconds): the median of the window's last tenth over the
// median of its first tenth, less one. Medians keep one sample (a garbage
// collection, a compaction) from deciding.
func growth(xs, ys []float64, windowStart float64) float64 {
	var win []float64
	for i := range xs {
		if xs[i] >= windowStart {
			win = append(win, ys[i])
		}
	}
	if len(win) < 2 {
		return math.NaN()
	}
	n := max(1, len(win)/10)
	first, last := median(win[:n]), median(win[len(win)-n:])
	if first == 0 {
		if last == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return last/first - 1
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
