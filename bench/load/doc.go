// Package load is Gantry's HTTP load generator: it sends one request over
// and over to a URL and reports throughput, status codes, errors and
// latency percentiles from an HDR histogram
// (github.com/HdrHistogram/hdrhistogram-go). The command bench/httpbench
// (make bench-http) drives it; docs/benchmarks.md has the figures.
//
// # Two modes
//
// Closed loop (Config.Rate zero): Config.Connections goroutines, each with
// its own keep-alive connection, send back to back: a request starts when
// the previous one on its connection has been answered. It measures the
// most a server can take, and latency under that load. A request counts
// when it completes inside the measured window, which follows the warm-up.
//
// Open loop (Config.Rate positive): requests are put on a fixed timetable,
// one every 1/Rate seconds, whatever the server does, and sent by
// Config.Connections goroutines (enough to keep up when the server does).
// Latency is measured from a request's intended send time, not from when it
// was actually sent, so a stalled server is charged for every request that
// should have gone out while it stalled ("coordinated omission", after Gil
// Tene). A request counts when its intended time falls inside the measured
// window; every such request is sent, even after the window has ended when
// the generator fell behind, up to Config.Timeout later; those never sent
// are reported as Unsent. Result.SendLag says how late requests actually
// went out: the generator's own timer lag plus any wait for a free
// connection.
//
// On Linux the open-loop timetable is kept by one goroutine on a locked OS
// thread sleeping with nanosleep(2) and a 1 ns timer slack: the Go
// runtime's timers wake up to a millisecond late when the process is
// otherwise idle, which would charge the generator's lag to the server.
//
// # Sharing the machine
//
// The generator is an ordinary Go program: on a machine where it shares the
// cores with the server, its own CPU time (a few tens of microseconds per
// request in net/http's client) is taken from the server. Measure a bare
// net/http server (Baseline) in the same run and report the ratio.
package load
