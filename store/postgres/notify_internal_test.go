package postgres

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// FuzzChanges: any payload on the channel (any client of the database may
// send one) parses without panicking into valid changes, and payloads the
// store encodes stay under PostgreSQL's limit and decode to what was sent.
func FuzzChanges(f *testing.F) {
	f.Add("0190a0b0-0000-7000-8000-000000000001\tdefault\tmail\tavailable\n" +
		"0190a0b0-0000-7000-8000-000000000002\tq\tk\trunning\tp")
	f.Add("x\ty\tz\tbogus")
	f.Add("\t\t\t\t\t")
	f.Add("")
	f.Fuzz(func(t *testing.T, payload string) {
		for _, c := range parseChanges(payload) {
			if !c.State.Valid() {
				t.Fatalf("parsed change %+v has an invalid state", c)
			}
		}
		// Re-encode what parsed, with names made valid, and round-trip it.
		var want []store.Change
		for i, line := range strings.Split(payload, "\n") {
			name := sanitize(line)
			want = append(want, store.Change{ID: sanitize(line + "id"), Queue: name, Kind: name,
				State: store.States[i%len(store.States)], Progress: i%3 == 0})
		}
		var got []store.Change
		for _, p := range encodeChanges(want) {
			if len(p) >= 8000 {
				t.Fatalf("payload of %d bytes, want under 8000", len(p))
			}
			got = append(got, parseChanges(p)...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round trip of %d changes gave %d: %+v", len(want), len(got), got)
		}
	})
}

// sanitize makes s a valid kind or queue name of at most MaxNameLen bytes.
func sanitize(s string) string {
	b := []byte("n")
	for i := 0; i < len(s) && len(b) < store.MaxNameLen; i++ {
		if store.ValidName(string(s[i])) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func TestEncodeChangesLimit(t *testing.T) {
	long := strings.Repeat("x", store.MaxNameLen)
	changes := make([]store.Change, 1000)
	for i := range changes {
		changes[i] = store.Change{ID: store.NewID(), Queue: long, Kind: long, State: store.StateAvailable, Progress: true}
	}
	payloads := encodeChanges(changes)
	n := 0
	for _, p := range payloads {
		if len(p) > maxPayload {
			t.Errorf("payload of %d bytes, want at most %d", len(p), maxPayload)
		}
		n += len(parseChanges(p))
	}
	if n != len(changes) || len(payloads) < 2 {
		t.Errorf("1000 long changes: %d payloads carrying %d changes", len(payloads), n)
	}
}
