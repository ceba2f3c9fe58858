package gantry

// Capacity is how busy a client's workers are.
type Capacity struct {
	// Running is how many jobs the client's workers run now (jobs leased
	// to external workers are not counted).
	Running int
	// Slots is how many jobs they may run at once: the workers of every
	// queue the client works, zero when it has no handlers.
	Slots int
}

// Capacity reports how many jobs the client runs now and how many it may
// run at once, for node heartbeats and autoscaling signals.
func (c *Client) Capacity() Capacity {
	out := Capacity{Running: c.engine.Running()}
	if len(c.cfg.Kinds) == 0 {
		return out
	}
	for _, n := range c.cfg.Queues {
		out.Slots += n
	}
	return out
}
