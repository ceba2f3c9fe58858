package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one step of the schema, embedded in the binary.
type Migration struct {
	// Version numbers the step, from 1 up, one more each (a test keeps
	// the shipped sequence without a gap); a schema goes from the version
	// it has to the next one listed.
	Version int
	// Name describes the step, from its file name.
	Name string
	up   string
	down string
}

// MigrationStatus reports where a schema stands.
type MigrationStatus struct {
	// Schema is the PostgreSQL schema that holds Gantry's tables.
	Schema string
	// Current is the version applied, 0 when none is.
	Current int
	// Latest is the newest version this build knows.
	Latest int
	// Applied lists the applied versions with when they were applied.
	Applied []AppliedMigration
	// Pending lists the versions this build would apply, oldest first.
	Pending []Migration
}

// AppliedMigration is one row of the schema_version table.
type AppliedMigration struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

// Beginner starts transactions; *pgxpool.Pool and *pgx.Conn are Beginners.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$`)

// migrations are the embedded steps, by version.
var migrations = loadMigrations()

func loadMigrations() []Migration {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic("postgres: reading embedded migrations: " + err.Error())
	}
	byVersion := map[int]*Migration{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			panic("postgres: badly named migration " + e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			panic("postgres: reading migration: " + err.Error())
		}
		mig := byVersion[v]
		if mig == nil {
			mig = &Migration{Version: v, Name: m[2]}
			byVersion[v] = mig
		}
		if m[3] == "up" {
			mig.up = string(body)
		} else {
			mig.down = string(body)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if (i == 0 && m.Version != 1) || (i > 0 && m.Version <= out[i-1].Version) || m.up == "" || m.down == "" {
			panic(fmt.Sprintf("postgres: migration %04d is missing a file or out of sequence", m.Version))
		}
	}
	return out
}

// Migrations returns the steps embedded in this build, oldest first.
func Migrations() []Migration { return append([]Migration(nil), migrations...) }

// LatestVersion is the newest schema version this build knows; Open needs
// the schema at exactly this version.
func LatestVersion() int { return migrations[len(migrations)-1].Version }

// Migrate moves the schema up or down to version target (0 removes every
// table Gantry made; LatestVersion() is what Open needs), one transaction
// for the whole move, so a failing step leaves the schema as it was. It
// creates the schema when missing.
//
// Several processes may call Migrate at once: it holds a transaction-level
// advisory lock derived from the schema name, so they run one after the
// other and the later ones find nothing left to do.
//
// This is what `gantry migrate up|down|status` runs.
func Migrate(ctx context.Context, db Beginner, schema string, target int) (*MigrationStatus, error) {
	if err := validSchema(schema); err != nil {
		return nil, err
	}
	if target < 0 || target > LatestVersion() {
		return nil, fmt.Errorf("postgres: migrate: target version %d is not between 0 and %d", target, LatestVersion())
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := lockMigrations(ctx, tx, schema); err != nil {
		return nil, err
	}
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+q); err != nil {
		return nil, fmt.Errorf("postgres: migrate: creating schema: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+q+`.schema_version (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("postgres: migrate: creating schema_version: %w", err)
	}
	current, err := currentVersion(ctx, tx, schema)
	if err != nil {
		return nil, err
	}
	if current > LatestVersion() {
		return nil, fmt.Errorf("postgres: migrate: schema %s is at version %d, newer than this build's %d: %w",
			schema, current, LatestVersion(), ErrSchemaVersion)
	}
	for _, m := range migrations {
		if m.Version <= current || m.Version > target {
			continue
		}
		if _, err := tx.Exec(ctx, expandSchema(m.up, q)); err != nil {
			return nil, fmt.Errorf("postgres: migrate: up %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+q+`.schema_version (version, name) VALUES ($1, $2)`,
			m.Version, m.Name); err != nil {
			return nil, fmt.Errorf("postgres: migrate: recording %04d: %w", m.Version, err)
		}
	}
	for i := len(migrations) - 1; i >= 0; i-- {
		m := migrations[i]
		if m.Version > current || m.Version <= target {
			continue
		}
		if _, err := tx.Exec(ctx, expandSchema(m.down, q)); err != nil {
			return nil, fmt.Errorf("postgres: migrate: down %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+q+`.schema_version WHERE version = $1`, m.Version); err != nil {
			return nil, fmt.Errorf("postgres: migrate: unrecording %04d: %w", m.Version, err)
		}
	}
	st, err := status(ctx, tx, schema)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres: migrate: commit: %w", err)
	}
	return st, nil
}

// Status reports the schema's version and the steps this build would
// apply. A schema that does not exist yet is at version 0.
func Status(ctx context.Context, db Beginner, schema string) (*MigrationStatus, error) {
	if err := validSchema(schema); err != nil {
		return nil, err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migration status: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	return status(ctx, tx, schema)
}

func status(ctx context.Context, tx pgx.Tx, schema string) (*MigrationStatus, error) {
	st := &MigrationStatus{Schema: schema, Latest: LatestVersion()}
	rows, err := tx.Query(ctx, `SELECT version, name, applied_at FROM `+
		pgx.Identifier{schema, "schema_version"}.Sanitize()+` ORDER BY version`)
	if err != nil {
		if isUndefinedTable(err) {
			st.Pending = Migrations()
			return st, nil
		}
		return nil, fmt.Errorf("postgres: migration status: %w", err)
	}
	st.Applied, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (AppliedMigration, error) {
		var a AppliedMigration
		err := r.Scan(&a.Version, &a.Name, &a.AppliedAt)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: migration status: %w", err)
	}
	for _, a := range st.Applied {
		st.Current = max(st.Current, a.Version)
	}
	for _, m := range migrations {
		if m.Version > st.Current {
			st.Pending = append(st.Pending, m)
		}
	}
	return st, nil
}

func currentVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, schema string) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+
		pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&v)
	if err != nil {
		if isUndefinedTable(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("postgres: reading schema version: %w", err)
	}
	return v, nil
}

// lockMigrations takes the transaction-level advisory lock that serialises
// migrations of one schema across processes.
func lockMigrations(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "gantry.migrate:"+schema)
	if err != nil {
		return fmt.Errorf("postgres: migrate: taking the migration lock: %w", err)
	}
	return nil
}

func expandSchema(sql, quoted string) string { return strings.ReplaceAll(sql, "{schema}", quoted) }

func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == pgerrcode.UndefinedTable || pe.Code == pgerrcode.InvalidSchemaName)
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// MaxSchemaLen bounds the schema name so that the notification channel,
// <schema>_changes, stays within PostgreSQL's 63-byte identifiers.
const MaxSchemaLen = 55

func validSchema(s string) error {
	if !schemaName.MatchString(s) || len(s) > MaxSchemaLen {
		return fmt.Errorf("postgres: schema name %q must be 1-%d characters of a-z, 0-9 and _, not starting with a digit",
			s, MaxSchemaLen)
	}
	return nil
}
