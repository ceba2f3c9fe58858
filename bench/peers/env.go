package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// procStatus reads a "Key: N kB" field of /proc/PID/status (pid 0: this
// process) in bytes; 0 when it cannot.
func procStatus(pid int, key string) int64 {
	p := "/proc/self/status"
	if pid > 0 {
		p = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peakRSS is the peak resident set size (VmHWM) of a process.
func peakRSS(pid int) int64 { return procStatus(pid, "VmHWM") }

// rss is the resident set size (VmRSS) of a process.
func rss(pid int) int64 { return procStatus(pid, "VmRSS") }

// loadAverage returns /proc/loadavg's three figures.
func loadAverage() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// cpuModel is the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return runtime.GOARCH
}

// memTotal is the machine's memory in bytes.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// pgCheck connects to PostgreSQL and returns its version.
func pgCheck(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	err = conn.QueryRow(ctx, "SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', shared_buffers=' || current_setting('shared_buffers')").Scan(&v)
	return v, err
}

// pgOthers counts the sessions of PostgreSQL busy with something else
// than this harness: other programs sharing the server during a run.
func pgOthers(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE state NOT IN ('idle') AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&n)
	if err != nil {
		return -1
	}
	return n
}

// dropPeerSchemas drops the schemas a run of the harness left behind.
func dropPeerSchemas(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'peers\\_%'")
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{n}.Sanitize()+" CASCADE"); err != nil {
			return err
		}
	}
	return nil
}

// redisCtl flushes the harness's Redis database and switches persistence.
type redisCtl struct {
	c *redis.Client
	// saved holds the settings changed by setAOF, to restore.
	saved map[string]string
}

func newRedisCtl(addr string, db int) *redisCtl {
	return &redisCtl{c: redis.NewClient(&redis.Options{Addr: addr, DB: db})}
}

// check pings Redis and returns its version and persistence settings.
func (r *redisCtl) check(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	info, err := r.c.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	v := infoField(info, "redis_version")
	cfg, err := r.c.ConfigGet(ctx, "*").Result()
	if err != nil {
		return v, err
	}
	return fmt.Sprintf("%s, save %q, appendonly %s, appendfsync %s, maxmemory %s", v, cfg["save"], cfg["appendonly"], cfg["appendfsync"], cfg["maxmemory"]), nil
}

func infoField(info, key string) string {
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// pid is redis-server's process id, for its RSS.
func (r *redisCtl) pid(ctx context.Context) int {
	info, err := r.c.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(infoField(info, "process_id"))
	return n
}

func (r *redisCtl) flush(ctx context.Context) error { return r.c.FlushDB(ctx).Err() }

// setAOF turns appendonly on with appendfsync everysec, or restores the
// settings it found.
func (r *redisCtl) setAOF(ctx context.Context, on bool) error {
	if !on {
		if r.saved == nil {
			return nil
		}
		for _, k := range []string{"appendonly", "appendfsync"} {
			if err := r.c.ConfigSet(ctx, k, r.saved[k]).Err(); err != nil {
				return err
			}
		}
		r.saved = nil
		return nil
	}
	if r.saved == nil {
		cfg, err := r.c.ConfigGet(ctx, "append*").Result()
		if err != nil {
			return err
		}
		r.saved = map[string]string{"appendonly": cfg["appendonly"], "appendfsync": cfg["appendfsync"]}
	}
	if err := r.c.ConfigSet(ctx, "appendfsync", "everysec").Err(); err != nil {
		return err
	}
	if err := r.c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		return err
	}
	// Turning AOF on rewrites the whole dataset once; wait for it.
	for range 600 {
		info, err := r.c.Info(ctx, "persistence").Result()
		if err != nil {
			return err
		}
		if infoField(info, "aof_enabled") == "1" && infoField(info, "aof_rewrite_in_progress") == "0" &&
			infoField(info, "aof_rewrite_scheduled") == "0" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("redis: the AOF rewrite did not finish in 60 s")
}
