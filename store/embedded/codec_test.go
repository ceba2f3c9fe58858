package embedded

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/blob"
	"github.com/gantry-dev/gantry/store"
)

func sampleRecords() (*store.Job, *stateRec) {
	j := &store.Job{
		Kind: "thumbnail", Queue: "images", Args: json.RawMessage(`{"w":256}`),
		Blob:     &blob.Info{Key: "b/1", Size: 42, SHA256: "ab", ContentType: "image/png"},
		Priority: 2, MaxAttempts: 5, Timeout: time.Minute, UniqueKey: "img-42",
		DependsOn: []string{"01900000-0000-7000-8000-000000000001"}, ParentID: "p",
		CreatedAt: t0,
	}
	s := &stateRec{
		State: store.StateRunning, Attempt: 2, RunAt: t0, StartedAt: t0.Add(time.Second),
		Progress: &store.Progress{Percent: 40, Message: "resizing"}, Result: []byte(`{"ok":true}`),
		Checkpoint: []byte(`{"page":3}`), CancelReason: "r", LeaseToken: "2.abc",
		LeaseExpiresAt: t0.Add(time.Minute), Seq: 77, DepsLeft: 1, Since: t0,
		Errors: []store.AttemptError{{Attempt: 1, At: t0, Message: "boom", Stack: "s"}},
	}
	return j, s
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	j, s := sampleRecords()
	var j2 store.Job
	if err := decodeSpec(encodeSpec(j), &j2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(j, &j2) {
		t.Errorf("spec round trip:\n got %+v\nwant %+v", &j2, j)
	}
	var s2 stateRec
	if err := decodeState(encodeState(s), &s2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, &s2) {
		t.Errorf("state round trip:\n got %+v\nwant %+v", &s2, s)
	}
}

// FuzzDecode feeds arbitrary bytes to the record decoders: they may
// refuse them but must not panic, and what they accept must encode back
// to a record that decodes to the same value.
func FuzzDecode(f *testing.F) {
	j, s := sampleRecords()
	f.Add(encodeSpec(j))
	f.Add(encodeState(s))
	f.Add([]byte{specVersion})
	f.Add([]byte{stateVersion, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var j store.Job
		if decodeSpec(b, &j) == nil {
			var j2 store.Job
			if err := decodeSpec(encodeSpec(&j), &j2); err != nil || !reflect.DeepEqual(j, j2) {
				t.Errorf("spec re-encoding: %v\n%+v\n%+v", err, j, j2)
			}
		}
		var s stateRec
		if decodeState(b, &s) == nil {
			var s2 stateRec
			if err := decodeState(encodeState(&s), &s2); err != nil || !reflect.DeepEqual(s, s2) {
				t.Errorf("state re-encoding: %v\n%+v\n%+v", err, s, s2)
			}
		}
	})
}
