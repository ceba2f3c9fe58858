package embedded

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Defaults of Options.
const (
	// DefaultCacheSize is the default size of the block cache: 32 MiB of
	// table blocks, on top of the memtables (see Options.CacheSize).
	DefaultCacheSize = 32 << 20
	// DefaultMemTableSize is the default size of one memtable: 16 MiB. Up
	// to DefaultMemTables of them may be in memory at once, so the store's
	// memory stays near 32+48 MiB whatever the backlog.
	DefaultMemTableSize = 16 << 20
	// DefaultMemTables is the default number of memtables (the active one
	// and those being flushed) after which writes wait for flushes.
	DefaultMemTables = 3
	// DefaultMaxGroup is the default number of requests committed together.
	DefaultMaxGroup = 1024
	// DefaultMaxGroupBytes is the default size of a group's batch after
	// which the committer commits it even if more requests are pending.
	DefaultMaxGroupBytes = 16 << 20
	// DefaultPromoteLimit is the default number of due scheduled jobs a
	// Claim promotes before it claims.
	DefaultPromoteLimit = 1000
)

// Options configures a Store. A nil *Options means all defaults; a zero
// field means its default.
type Options struct {
	// Logger receives the store's own messages and Pebble's (at debug
	// level, except errors). Default: a logger that discards everything.
	Logger *slog.Logger

	// CacheSize is how many bytes of table blocks the block cache keeps.
	// Pebble counts its memtables against its cache, so the cache given to
	// Pebble is CacheSize plus two memtables (the one being filled and the
	// one kept for reuse): without them a cache of the memtables' size
	// keeps no blocks at all. Default: DefaultCacheSize.
	CacheSize int64

	// MemTableSize is the size in bytes of one memtable. Default:
	// DefaultMemTableSize.
	MemTableSize int64

	// MemTables is how many memtables may be in memory at once before
	// writes wait for flushes; at least 2. Default: DefaultMemTables.
	MemTables int

	// MaxGroup is the most requests committed in one batch.
	// Default: DefaultMaxGroup.
	MaxGroup int

	// MaxGroupBytes is the batch size in bytes after which a group is
	// committed even when more requests are pending.
	// Default: DefaultMaxGroupBytes.
	MaxGroupBytes int

	// PromoteLimit is the most due scheduled or retrying jobs one Claim
	// makes available before it claims. Default: DefaultPromoteLimit.
	PromoteLimit int

	// fs, when set, is the filesystem Pebble keeps the database in instead
	// of the operating system's: the power-loss test runs the store over a
	// memory filesystem that loses what was not synced.
	fs vfs.FS
	// events, when set, receives Pebble's events (flushes, compactions).
	events *pebble.EventListener
}

// withDefaults returns a copy of o (nil allowed) with every zero field set
// to its default.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = DefaultMemTableSize
	}
	if c.MemTables == 0 {
		c.MemTables = DefaultMemTables
	}
	if c.MaxGroup == 0 {
		c.MaxGroup = DefaultMaxGroup
	}
	if c.MaxGroupBytes == 0 {
		c.MaxGroupBytes = DefaultMaxGroupBytes
	}
	if c.PromoteLimit == 0 {
		c.PromoteLimit = DefaultPromoteLimit
	}
	return c
}

func (o *Options) validate() error {
	switch {
	case o.CacheSize < 0:
		return fmt.Errorf("embedded: CacheSize %d is negative", o.CacheSize)
	case o.MemTableSize < 1<<20 || o.MemTableSize >= 4<<30:
		return fmt.Errorf("embedded: MemTableSize %d must be at least 1 MiB and less than 4 GiB", o.MemTableSize)
	case o.MemTables < 2:
		return fmt.Errorf("embedded: MemTables %d must be at least 2", o.MemTables)
	case o.MaxGroup < 1:
		return fmt.Errorf("embedded: MaxGroup %d must be positive", o.MaxGroup)
	case o.MaxGroupBytes < 1:
		return fmt.Errorf("embedded: MaxGroupBytes %d must be positive", o.MaxGroupBytes)
	case o.PromoteLimit < 1:
		return fmt.Errorf("embedded: PromoteLimit %d must be positive", o.PromoteLimit)
	}
	return nil
}
