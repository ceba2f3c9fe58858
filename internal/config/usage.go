package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// PrintFlags lists the flags of fs GNU-style (--name VALUE) with their
// usage and default, for a command's --help.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + strings.ToUpper(name)
		}
		fmt.Fprintln(w, line)
		text := "      " + usage
		if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "0s" {
			text += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintln(w, text)
	})
}
