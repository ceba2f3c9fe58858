package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"

	"github.com/gantry-dev/gantry/store"
)

// The on-disk format changes only through migrations, one numbered
// sequence (docs/decisions/0008-store-migrations.md): format 1 is the
// first this store wrote, and migration N turns a database in format N-1
// into format N. Open applies the pending ones in place, in order, each in
// one Pebble batch that also records the new version, so a crash leaves the
// data dir in one format or the next, never in between. Every later change
// of the keys or records adds the next migration, and a test that opens a
// data dir in the previous format and finds every job intact.

// migration is one step of the format.
type migration struct {
	// version is the format the step produces, from 2 up, one after the
	// other.
	version uint32
	// name says what changed.
	name string
	// apply reads the database, in format version-1, and writes to b what
	// makes it format version; b holds nothing else.
	apply func(r pebble.Reader, b *pebble.Batch) error
}

// migrations is the sequence, oldest first. formatVersion is the version
// of the last.
var migrations = []migration{
	{2, "job specs sort after every other table (table 'j' becomes 'z')", migrateSpecsLast},
	{3, "dependency edges are kept after the dependency finishes, from both sides (tables 'd' and 'b'), for workflows", migrateEdges},
	{4, "job states of version 3 count the job's snoozes and keep the first one's time", migrateNothing},
	{5, "queue limits (table 'n')", migrateNothing},
	{6, "job specs of version 3 hold the enqueuer's traceparent", migrateNothing},
	{7, "job specs of version 4 hold the limit key; keyed queues' jobs by key (table 'k')", migrateNothing},
}

// migrateNothing is a step that only records the new version: the format
// adds a table that starts empty, and an older Gantry must not open a
// database that may hold it.
func migrateNothing(pebble.Reader, *pebble.Batch) error { return nil }

// migrateFormat brings db to formatVersion: it writes the version into a
// new database, applies the migrations a database written in an older
// format needs, and refuses one written in a newer format.
func migrateFormat(db *pebble.DB, log *slog.Logger) error {
	got, err := readFormat(db)
	if errors.Is(err, pebble.ErrNotFound) {
		return db.Set(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion), pebble.Sync)
	}
	if err != nil {
		return err
	}
	if got > formatVersion {
		return fmt.Errorf("the data was written in format %d by a newer Gantry; this one reads up to format %d", got, formatVersion)
	}
	for _, m := range migrations {
		if m.version <= got {
			continue
		}
		from := got
		b := db.NewBatch()
		err := m.apply(db, b)
		if err == nil {
			err = b.Set(keyFormat, binary.BigEndian.AppendUint32(nil, m.version), nil)
		}
		if err == nil {
			err = b.Commit(pebble.Sync)
		}
		b.Close()
		if err != nil {
			return fmt.Errorf("migrating the data from format %d to %d (%s): %w", from, m.version, m.name, err)
		}
		got = m.version
		log.Info("embedded: migrated the data dir", slog.Int("from", int(from)), slog.Int("to", int(m.version)),
			slog.String("migration", m.name))
	}
	return nil
}

// readFormat returns the format version db records, or pebble.ErrNotFound
// for a new database.
func readFormat(r pebble.Reader) (uint32, error) {
	v, closer, err := r.Get(keyFormat)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 4 {
		return 0, fmt.Errorf("unreadable format version %x", v)
	}
	return binary.BigEndian.Uint32(v), nil
}

// migrateSpecsLast (format 1 to 2) moves the job specs from table 'j' to
// table 'z', so that they sort after every table a running queue rewrites.
func migrateSpecsLast(r pebble.Reader, b *pebble.Batch) error {
	const old = 'j'
	return scan(r, []byte{old}, func(k, v []byte) error {
		nk := append([]byte{tSpec}, k[1:]...)
		if err := b.Set(nk, v, nil); err != nil {
			return err
		}
		return b.Delete(k, nil)
	})
}

// migrateEdges (format 2 to 3) writes every dependency edge from both
// sides: format 2 kept d <dep> <dependent> only while the dependent
// waited, and format 3 keeps it, with b <dependent> <dep>, until a job is
// pruned, so that a retried job finds the dependents it cancelled. Specs
// written in format 2 (spec version 1) are read as jobs outside
// workflows; the workflow tables ('w', 'g') start empty.
func migrateEdges(r pebble.Reader, b *pebble.Batch) error {
	return scan(r, []byte{tSpec}, func(k, v []byte) error {
		if len(k) != 17 {
			return nil
		}
		var j store.Job
		if err := decodeSpec(v, &j); err != nil {
			return fmt.Errorf("job %s: %w", idString(jobID(k[1:])), err)
		}
		id := jobID(k[1:])
		for _, d := range j.DependsOn {
			dep, ok := parseID(d)
			if !ok {
				continue
			}
			if err := b.Set(depKey(dep, id), nil, nil); err != nil {
				return err
			}
			if err := b.Set(blockedKey(id, dep), nil, nil); err != nil {
				return err
			}
		}
		return nil
	})
}
