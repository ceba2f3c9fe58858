// Package server is the Gantry server that `gantry serve` runs: it opens
// the job store and the blob store that a config.Serve names, builds the
// client (with the built-in demo kinds), the HTTP API and the metrics on
// one http.Server, serves until its context ends, then drains and closes
// everything it opened, in reverse order.
//
// It lives apart from cmd/gantry so that tests and benchmarks start the
// same server in-process, on a loopback port, without going through main:
//
//	s, err := server.Open(ctx, cfg, &server.Options{Logger: log})
//	if err != nil {
//		return err
//	}
//	fmt.Println("listening on", s.Addr())
//	return s.Run(ctx) // until ctx ends, then the graceful shutdown
//
// The package never touches OS signals nor exits: main owns both.
package server
