package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/blob"
)

// TestPowerLoss runs Puts and Deletes on a memory filesystem and, at every
// change the store makes to it (each create, write, sync, rename, remove
// and mkdir is a crash point), opens a store on each image a crash could
// leave: a power loss (only synced contents and synced directory entries
// survive), a journal that kept names but not unsynced data, and a process
// crash (everything kept). On each it checks that every acknowledged Put
// and Delete holds (the operation in flight may have happened or not),
// that every payload reads back whole with the size and SHA-256 its
// metadata names, that no temporary file is left, and that the recovered
// store takes a new Put.
func TestPowerLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := []string{"k0", "k1", "k2", "k3"}
	acked := map[string][]byte{} // key -> content; absent: none or deleted
	var inflight *plOp
	points, failures := 0, 0

	check := func(img *memFS, kind int) error {
		st, err := openOn(img, "mem", nil)
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		defer st.Close()
		if tmp := img.lookup(tmpDir); tmp == nil || len(tmp.entries) != 0 {
			return fmt.Errorf("temporary files left after open: %v", tmp)
		}
		for _, k := range keys {
			want := [][]byte{acked[k]}
			if inflight != nil && inflight.key == k {
				want = append(want, inflight.content) // nil for a Delete
			}
			got, err := readAll(ctx, st, k)
			if err != nil {
				return fmt.Errorf("key %s: %w", k, err)
			}
			ok := false
			for _, w := range want {
				ok = ok || (w == nil && got == nil) || (w != nil && got != nil && bytes.Equal(w, got))
			}
			if !ok {
				return fmt.Errorf("key %s: read %s, want one of %s", k, describe(got), describeAll(want))
			}
		}
		listed := 0
		err = st.List(ctx, nil, func(l blob.Listed) error {
			listed++
			if got, err := readAll(ctx, st, l.Key); err != nil || got == nil || int64(len(got)) != l.Size {
				return fmt.Errorf("listed %s (%d bytes) reads %s, %v", l.Key, l.Size, describe(got), err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if _, err := st.Put(ctx, "after-crash", strings.NewReader("x"), "", 0); err != nil {
			return fmt.Errorf("put after the crash: %w", err)
		}
		return nil
	}

	mfs := newMemFS()
	mfs.onChange = func(fs *memFS) {
		points++
		for kind := range crashNames {
			if err := check(fs.crash(kind), kind); err != nil {
				failures++
				if failures <= 10 {
					t.Errorf("crash point %d (%s), during %v: %v", points, crashNames[kind], inflight, err)
				}
			}
		}
	}
	s, err := openOn(mfs, "mem", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 700, 40 << 10, bufSize + 1000}
	for i := range 30 {
		o := &plOp{key: keys[rng.IntN(len(keys))], put: rng.IntN(4) != 0}
		if o.put {
			o.content = make([]byte, sizes[rng.IntN(len(sizes))])
			for j := range o.content {
				o.content[j] = byte(i + j)
			}
		}
		inflight = o
		if o.put {
			_, err = s.Put(ctx, o.key, bytes.NewReader(o.content), "application/octet-stream", 0)
		} else {
			err = s.Delete(ctx, o.key)
		}
		if err != nil {
			t.Fatalf("op %d %s: %v", i, o, err)
		}
		inflight = nil
		if o.put {
			acked[o.key] = o.content
		} else {
			delete(acked, o.key)
		}
	}
	if points < 100 {
		t.Errorf("only %d crash points", points)
	}
	t.Logf("%d crash points × %d crash images checked, %d failed", points, len(crashNames), failures)
}

// readAll returns the payload under key (nil when there is none), checking
// it against the size and SHA-256 its metadata gives.
func readAll(ctx context.Context, s *Store, key string) ([]byte, error) {
	rc, info, err := s.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != info.Size || hex.EncodeToString(sum[:]) != info.SHA256 {
		return nil, fmt.Errorf("torn payload: %d bytes, sha256 %x; metadata says %d bytes, %s", len(b), sum[:4], info.Size, info.SHA256[:8])
	}
	return b, nil
}

func describe(b []byte) string {
	if b == nil {
		return "nothing"
	}
	return fmt.Sprintf("%d bytes", len(b))
}

func describeAll(bs [][]byte) string {
	var parts []string
	for _, b := range bs {
		parts = append(parts, describe(b))
	}
	return strings.Join(parts, " or ")
}

// plOp is a Put (of content) or a Delete of key.
type plOp struct {
	key     string
	put     bool
	content []byte
}

func (o *plOp) String() string {
	switch {
	case o == nil:
		return "no operation"
	case o.put:
		return fmt.Sprintf("put %s (%d bytes)", o.key, len(o.content))
	}
	return "delete " + o.key
}
