package main

import (
	"bytes"
	"image/png"
	"math"
	"testing"
)

func TestGrowth(t *testing.T) {
	t.Parallel()
	xs := make([]float64, 200)
	flat, rising, noisy := make([]float64, 200), make([]float64, 200), make([]float64, 200)
	for i := range xs {
		xs[i] = float64(i * 10)
		flat[i] = 100
		rising[i] = 100 + float64(i)
		noisy[i] = 100
		if i%17 == 0 {
			noisy[i] = 900 // a spike now and then
		}
	}
	cases := []struct {
		name   string
		ys     []float64
		lo, hi float64
	}{
		{"flat", flat, 0, 0},
		{"rising", rising, 0.4, 0.6},
		{"flat with spikes", noisy, 0, 0},
	}
	for _, c := range cases {
		if g := growth(xs, c.ys, 800); g < c.lo || g > c.hi || math.IsNaN(g) {
			t.Errorf("%s: growth %v, want %v to %v", c.name, g, c.lo, c.hi)
		}
	}
	if g := growth(xs, flat, 1e9); !math.IsNaN(g) {
		t.Errorf("an empty window: growth %v, want NaN", g)
	}
}

func TestDrawPlot(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := drawPlot(&buf, []float64{0, 10, 20, 30}, []float64{5, 6, 5, 7}, 10); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != plotW || b.Dy() != plotH {
		t.Fatalf("size %v", b)
	}
	blues := 0
	for y := range plotH {
		for x := range plotW {
			if r, g, b, _ := img.At(x, y).RGBA(); r>>8 == 31 && g>>8 == 119 && b>>8 == 180 {
				blues++
			}
		}
	}
	if blues < plotW/2 {
		t.Errorf("only %d pixels of the line drawn", blues)
	}
}
