// Package pgtest gives tests PostgreSQL to work on: a schema of their own
// on the shared test database (Schema), or a private server in a temporary
// directory that a test may stop and start at will (Start), so that
// outages can be tested without disturbing other tests.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables the helpers read.
const (
	// EnvRequire set to 1 turns a skip for want of PostgreSQL into a
	// failure (CI sets it).
	EnvRequire = "GANTRY_REQUIRE_PG"
	// EnvBin names the directory of initdb, pg_ctl and postgres. Default:
	// the newest /usr/lib/postgresql/*/bin.
	EnvBin = "GANTRY_TEST_PG_BIN"
)

// Schema returns a new schema name on the database at url, dropped with
// everything in it when the test ends.
func Schema(t testing.TB, url, prefix string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

// Server is a private PostgreSQL server on a loopback port, its data in a
// temporary directory, with trust authentication for the user postgres.
type Server struct {
	t    testing.TB
	bin  string
	dir  string // owned by the server's user; data/ and the log in it
	port int
	as   []string // the command prefix that runs as the server's user
}

// Start initialises a new cluster and starts its server. It skips the test
// when the PostgreSQL server binaries are not installed (fails it when
// GANTRY_REQUIRE_PG=1), and stops the server and deletes its files when
// the test ends, whether it passed or not.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		skipOrFail(t, err)
	}
	s := &Server{t: t, bin: bin}
	// initdb and postgres refuse to run as root: as root, run them as the
	// user postgres.
	var owner *user.User
	if os.Geteuid() == 0 {
		if owner, err = user.Lookup("postgres"); err != nil {
			skipOrFail(t, fmt.Errorf("running as root and there is no user postgres to run the server as: %w", err))
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			skipOrFail(t, fmt.Errorf("running as root and runuser is missing: %w", err))
		}
		s.as = []string{runuser, "-u", "postgres", "--"}
	}
	if s.dir, err = os.MkdirTemp("", "gantry-pgtest-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.cleanup)
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		skipOrFail(t, fmt.Errorf("initdb: %w\n%s", err, out))
	}
	// A port that was free a moment ago may be taken by the time the
	// server binds it: try a few.
	for try := 0; ; try++ {
		if s.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if err = s.Start(); err == nil {
			return s
		}
		if try == 2 {
			skipOrFail(t, err)
		}
	}
}

// URL returns the URL of database db (postgres always exists).
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Start starts the server again after Stop, and waits until it accepts
// connections (after crash recovery, when it was stopped in immediate
// mode).
func (s *Server) Start() error {
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c shared_buffers=32MB -c max_connections=100",
		s.port, s.dir)
	out, err := s.run("pg_ctl", "start", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "-t", "120")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, s.Log())
	}
	return nil
}

// Stop stops the server in mode: "smart", "fast" or "immediate" (the
// server process quits at once, without a checkpoint, as in a crash; the
// next Start recovers from the WAL).
func (s *Server) Stop(mode string) error {
	out, err := s.run("pg_ctl", "stop", "-D", s.data(), "-m", mode, "-w", "-t", "60")
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w\n%s", mode, err, out)
	}
	return nil
}

// Log returns the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return string(b)
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, s.as...), filepath.Join(s.bin, name)), args...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// cleanup stops the server if it runs and deletes its files.
func (s *Server) cleanup() {
	if _, err := os.Stat(filepath.Join(s.data(), "postmaster.pid")); err == nil {
		if err := s.Stop("immediate"); err != nil {
			s.t.Errorf("stopping the private PostgreSQL server: %v", err)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		s.t.Errorf("removing the private PostgreSQL server's files: %v", err)
	}
}

// findBin returns the directory of the PostgreSQL server binaries.
func findBin() (string, error) {
	if d := os.Getenv(EnvBin); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBin, d, err)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("the PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql, or set " + EnvBin + ")")
}

// version is the major version in /usr/lib/postgresql/<version>/bin.
func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// skipOrFail skips the test for want of something, or fails it when
// GANTRY_REQUIRE_PG=1.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s=1 but no private PostgreSQL server can be started: %v", EnvRequire, err)
	}
	t.Skipf("no private PostgreSQL server: %v", err)
}
