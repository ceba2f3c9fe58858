package server

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
)

// TestConnLimits: the defaults take half of the open-file limit for
// connections and half of those for streams, within bounds; settings win.
func TestConnLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		maxConns, maxStreams int
		files                uint64
		conns, streams       int
	}{
		{0, 0, 1024, 512, 256},
		{0, 0, 128, 64, 32},
		{0, 0, 10, 16, 8},                 // at least minDefaultConnections
		{0, 0, 1 << 30, 1 << 16, 1 << 15}, // at most maxDefaultConnections
		{0, 0, 0, 1 << 16, 1 << 15},       // unknown limit
		{100, 0, 1024, 100, 50},
		{0, 10, 1024, 512, 10},
		{3, 0, 1024, 3, 1},
	}
	for _, c := range cases {
		conns, streams := connLimits(c.maxConns, c.maxStreams, c.files)
		if conns != c.conns || streams != c.streams {
			t.Errorf("connLimits(%d, %d, %d) = %d, %d; want %d, %d", c.maxConns, c.maxStreams, c.files, conns, streams, c.conns, c.streams)
		}
	}
}

// TestClientConfigRetention: --retention reaches the client, whose
// maintenance prunes finished jobs with it; forever stays negative.
func TestClientConfigRetention(t *testing.T) {
	t.Parallel()
	for _, r := range []time.Duration{config.DefaultServe().Retention, 5 * time.Minute, -time.Second} {
		cfg := config.DefaultServe()
		cfg.Retention = r
		s := &Server{cfg: cfg}
		if got := s.clientConfig().Retention; got != r {
			t.Errorf("retention %v: the client got %v", r, got)
		}
	}
}
