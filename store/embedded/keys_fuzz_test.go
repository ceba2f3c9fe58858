package embedded

import (
	"bytes"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

// FuzzKeys checks the key encoding on arbitrary names, times, priorities
// and ids: times and ids read back as written, keys sort as their times,
// positions and ids do, and the available-index keys of two different
// (queue, kind) pairs of valid names never share a prefix, so that a scan
// of one pair never reads another's jobs.
func FuzzKeys(f *testing.F) {
	f.Add("default", "thumbnail", "images", "thumbnail.v2", uint8(5), int64(1764669600000000000), int64(1764669600000000001), uint64(7), []byte("0123456789abcdef"), "01900000-0000-7000-8000-000000000001")
	f.Add("a", "b", "a", "b:c", uint8(1), int64(-1), int64(1), uint64(0), []byte{}, "not-an-id")
	f.Add("q", "k", "q\x00k", "", uint8(9), int64(0), int64(-1<<63), uint64(1<<63), []byte{0xff}, "{01900000-0000-7000-8000-000000000001}")
	f.Fuzz(func(t *testing.T, q1, k1, q2, k2 string, prio uint8, n1, n2 int64, seq uint64, idb []byte, ids string) {
		var id jobID
		copy(id[:], idb)
		if got, ok := parseID(idString(id)); !ok || got != id {
			t.Fatalf("id %x reads back as %x, %v", id, got, ok)
		}
		if p, ok := parseID(ids); ok {
			if again, ok := parseID(idString(p)); !ok || again != p {
				t.Fatalf("parsed id %q does not round trip", ids)
			}
		}
		t1, t2 := time.Unix(0, n1).UTC(), time.Unix(0, n2).UTC()
		for _, tt := range []time.Time{t1, t2} {
			if got := keyTime(appendTime(nil, tt)); tt.UnixNano() != 0 && !got.Equal(tt) {
				t.Fatalf("time %v reads back as %v", tt, got)
			}
		}
		if n1 != 0 && n2 != 0 {
			c := bytes.Compare(timeIDKey(tLease, t1, id), timeIDKey(tLease, t2, id))
			if want := cmpInt(n1, n2); c != want {
				t.Fatalf("lease keys of %d and %d compare %d, want %d", n1, n2, c, want)
			}
			p1, p2 := makeAvailPos(t1, seq), makeAvailPos(t1, seq).next()
			if seq != 1<<64-1 && bytes.Compare(p1[:], p2[:]) >= 0 {
				t.Fatalf("position %x does not sort before its next %x", p1, p2)
			}
			if !p1.since().Equal(t1) {
				t.Fatalf("position since %v, want %v", p1.since(), t1)
			}
		}
		if store.CheckName("Queue", q1) != nil || store.CheckName("Kind", k1) != nil ||
			store.CheckName("Queue", q2) != nil || store.CheckName("Kind", k2) != nil || (q1 == q2 && k1 == k2) {
			return
		}
		pr := int(prio%9) + 1
		a, b := availKey(q1, k1, pr, makeAvailPos(t1, seq)), availPrefix(q2, k2, pr)
		if bytes.HasPrefix(a, b) {
			t.Fatalf("the available key of (%q, %q) starts with the prefix of (%q, %q)", q1, k1, q2, k2)
		}
		if bytes.HasPrefix(countKey(q1, k1, store.StateAvailable), queueKindPrefix(tCount, q2, k2)) {
			t.Fatalf("the count key of (%q, %q) starts with the prefix of (%q, %q)", q1, k1, q2, k2)
		}
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
