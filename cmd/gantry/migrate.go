package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/store/postgres"
)

// migrateFlags are the flags of the migrate commands.
type migrateFlags struct {
	store  string
	schema string
	to     int
}

func (m *migrateFlags) register(e *env, fs *flag.FlagSet, withTo bool) {
	fs.StringVar(&m.store, "store", e.getenv("GANTRY_STORE"), "PostgreSQL `URL` (env GANTRY_STORE)")
	schema := e.getenv("GANTRY_SCHEMA")
	if schema == "" {
		schema = postgres.DefaultSchema
	}
	fs.StringVar(&m.schema, "schema", schema, "PostgreSQL `schema` of Gantry's tables (env GANTRY_SCHEMA)")
	if withTo {
		fs.IntVar(&m.to, "to", 0, "target schema `version` (up: default the latest; down: default one below the current)")
	}
}

func (m *migrateFlags) pool(ctx context.Context) (*pgxpool.Pool, error) {
	s := &config.Serve{Store: m.store}
	if kind, err := s.StoreKind(); err != nil || kind != "postgres" {
		return nil, usageErrorf("--store (or GANTRY_STORE) must be a postgres:// URL, got %q", config.RedactURL(m.store))
	}
	pool, err := pgxpool.New(ctx, m.store)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", config.RedactURL(m.store), err)
	}
	return pool, nil
}

func runMigrateStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "migrate status", "", "Shows the version of Gantry's PostgreSQL schema and the migrations pending.")
	var m migrateFlags
	m.register(e, fs, false)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	pool, err := m.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	st, err := postgres.Status(ctx, pool, m.schema)
	if err != nil {
		return err
	}
	printMigrationStatus(e, st)
	return nil
}

func runMigrateUp(ctx context.Context, e *env, args []string) error {
	return migrate(ctx, e, args, true)
}

func runMigrateDown(ctx context.Context, e *env, args []string) error {
	return migrate(ctx, e, args, false)
}

func migrate(ctx context.Context, e *env, args []string, up bool) error {
	name, help := "migrate up", `
Applies the pending migrations of Gantry's PostgreSQL schema, up to --to
(default: the latest this build knows), in one transaction. Several
processes may run it at once.`
	if !up {
		name, help = "migrate down", `
Reverts migrations of Gantry's PostgreSQL schema down to --to (default: one
version below the current; 0 removes every table Gantry made), in one
transaction. Data in reverted tables is lost.`
	}
	fs := newFlagSet(e, name, "", help)
	var m migrateFlags
	m.register(e, fs, true)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	pool, err := m.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	target := m.to
	toSet := false
	fs.Visit(func(f *flag.Flag) { toSet = toSet || f.Name == "to" })
	if target < 0 {
		return usageErrorf("--to %d must not be negative", target)
	}
	if !toSet {
		if up {
			target = postgres.LatestVersion()
		} else {
			st, err := postgres.Status(ctx, pool, m.schema)
			if err != nil {
				return err
			}
			target = max(st.Current-1, 0)
		}
	}
	if target > postgres.LatestVersion() {
		return usageErrorf("--to %d: this build knows versions up to %d", target, postgres.LatestVersion())
	}
	before, err := postgres.Status(ctx, pool, m.schema)
	if err != nil {
		return err
	}
	if up && target < before.Current {
		return usageErrorf("--to %d is below the current version %d: use gantry migrate down", target, before.Current)
	}
	if !up && target > before.Current {
		return usageErrorf("--to %d is above the current version %d: use gantry migrate up", target, before.Current)
	}
	st, err := postgres.Migrate(ctx, pool, m.schema, target)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "schema %s: version %d -> %d\n", st.Schema, before.Current, st.Current)
	return nil
}

func printMigrationStatus(e *env, st *postgres.MigrationStatus) {
	tw := table(e.stdout)
	fmt.Fprintf(tw, "schema:\t%s\n", st.Schema)
	fmt.Fprintf(tw, "version:\t%d\n", st.Current)
	fmt.Fprintf(tw, "latest:\t%d\n", st.Latest)
	for _, a := range st.Applied {
		fmt.Fprintf(tw, "applied:\t%04d_%s\t%s\n", a.Version, a.Name, stamp(a.AppliedAt))
	}
	for _, p := range st.Pending {
		fmt.Fprintf(tw, "pending:\t%04d_%s\n", p.Version, p.Name)
	}
	tw.Flush()
	if len(st.Pending) > 0 {
		fmt.Fprintf(e.stdout, "run: gantry migrate up --store URL%s\n", schemaFlag(st.Schema))
	}
}

func schemaFlag(schema string) string {
	if schema == postgres.DefaultSchema {
		return ""
	}
	return " --schema " + strconv.Quote(schema)
}
