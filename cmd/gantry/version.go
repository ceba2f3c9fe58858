package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// buildVersion is set at link time:
//
//	go build -ldflags "-X main.buildVersion=v1.2.3" ./cmd/gantry
//
// Without it, the version comes from the module's build information.
var buildVersion string

// version returns the version of this build.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// buildDetails returns the commit and time of the build, when known.
func buildDetails() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return runtime.Version()
	}
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	out := bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
	if rev != "" {
		out = fmt.Sprintf("commit %.12s%s, %s, %s", rev, dirty, at, out)
	}
	return out
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "", "Prints the version of gantry and how it was built.")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "gantry %s (%s)\n", version(), buildDetails())
	return nil
}
