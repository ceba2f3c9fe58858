package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/httpapi"
)

// progressWidth is the width of the progress line, in columns: it fits a
// terminal of 80.
const progressWidth = 79

// progressBar is the width of the bar in the progress line.
const progressBar = 20

// isTerminal reports whether w is a terminal (a character device). The
// progress line is only for a person watching: nothing extra goes into a
// pipe or a file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine renders j for the line that jobs wait and enqueue --wait
// redraw while they wait: its state, a bar, the percent and message of
// its progress (- before the first report), at most width columns.
func progressLine(j *httpapi.JobResource, width int) string {
	pct, msg := -1, ""
	if j.Progress != nil {
		pct, msg = min(max(j.Progress.Percent, 0), 100), j.Progress.Message
	}
	filled := max(pct, 0) * progressBar / 100
	line := fmt.Sprintf("%-9s [%s%s] ", j.State, strings.Repeat("#", filled), strings.Repeat("-", progressBar-filled))
	if pct < 0 {
		line += "   -"
	} else {
		line += fmt.Sprintf("%3d%%", pct)
	}
	if msg = strings.Join(strings.Fields(msg), " "); msg != "" {
		line += " " + msg
	}
	if utf8.RuneCountInString(line) > width {
		r := []rune(line)
		line = string(r[:width-3]) + "..."
	}
	return line
}

// showProgress follows the job's events and redraws its progress line on
// w, in place, until the stream ends or ctx does; it clears the line
// before it returns. It is decoration: when the events cannot be had, the
// wait goes on without it.
func showProgress(ctx context.Context, a *api, id string, w io.Writer) {
	res, err := a.open(ctx, &request{method: http.MethodGet, path: jobIDPath(id, "events"), accept: "text/event-stream"})
	if err != nil {
		return
	}
	defer res.Body.Close()
	drawn := false
	defer func() {
		if drawn {
			fmt.Fprint(w, "\r\x1b[K")
		}
	}()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), maxResponse)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		var j httpapi.JobResource
		if json.Unmarshal([]byte(data), &j) != nil {
			continue
		}
		fmt.Fprint(w, "\r"+progressLine(&j, progressWidth)+"\x1b[K")
		drawn = true
	}
}
