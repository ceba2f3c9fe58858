// Package s3test runs versitygw, an S3-compatible server, for the tests of
// blob/s3 and of the code that uses it: no fakes, the real protocol on a
// loopback port, with the data in a temporary directory.
//
// Tests find the binary through GANTRY_TEST_VERSITYGW (a path) or as
// versitygw on PATH. Without it they skip, saying how to install it,
// unless GANTRY_REQUIRE_S3=1, which makes them fail (CI sets both).
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Settings of the servers this package starts.
const (
	// EnvBinary names the versitygw binary to run.
	EnvBinary = "GANTRY_TEST_VERSITYGW"
	// EnvRequire, set to 1, fails the tests that would skip for want of
	// a binary.
	EnvRequire = "GANTRY_REQUIRE_S3"
	// Install is the command that installs the version the tests expect.
	Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

	AccessKeyID     = "gantry-test"
	SecretAccessKey = "gantry-test-secret"
	Region          = "us-east-1"
	// VirtualDomain is the base domain of virtual-host style requests:
	// bucket.localhost. Nothing resolves those names; a test dials the
	// server's port for them itself.
	VirtualDomain = "localhost"

	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// Binary returns the path of versitygw, or "" when there is none.
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	p, err := exec.LookPath("versitygw")
	if err != nil {
		return ""
	}
	return p
}

// Require returns the path of versitygw, or skips tb (fails it when
// GANTRY_REQUIRE_S3=1) when there is none.
func Require(tb testing.TB) string {
	tb.Helper()
	if p := Binary(); p != "" {
		return p
	}
	msg := fmt.Sprintf("no S3-compatible server to test against: install versitygw (%s; about 2 minutes) and put it on PATH or set %s=/path/to/versitygw", Install, EnvBinary)
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatalf("%s=1 but %s", EnvRequire, msg)
	}
	tb.Skip(msg)
	return ""
}

// Server is a running versitygw with the posix backend.
type Server struct {
	// Endpoint is its URL, http://127.0.0.1:port.
	Endpoint string

	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, after done
}

// Start starts versitygw (binary) on a free loopback port with its data in
// a new temporary directory, and waits until it answers. Stop ends it.
func Start(binary string) (*Server, error) {
	var lastErr error
	for range 3 { // another process may take the port between probe and bind
		s, err := start(binary)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(binary string) (_ *Server, err error) {
	dir, err := os.MkdirTemp("", "gantry-versitygw-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	// With --virtual-domain, http://bucket.localhost:port/key names the
	// bucket in the host (virtual-host style), while requests to
	// 127.0.0.1 keep naming it in the path.
	cmd := exec.Command(binary, "--port", addr, "--region", Region, "--virtual-domain", VirtualDomain, "--quiet", "posix", data)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"ROOT_ACCESS_KEY_ID=" + AccessKeyID,
		"ROOT_SECRET_ACCESS_KEY=" + SecretAccessKey,
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile // files: no copying goroutines
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	s := &Server{Endpoint: "http://" + addr, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("versitygw: %w\n%s", err, s.Log())
	}
	return s, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// waitReady polls until the server answers HTTP: it is up in well under a
// second.
func (s *Server) waitReady() error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := client.Get(s.Endpoint + "/")
		if err == nil {
			res.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering at %s after %v: %w", s.Endpoint, startTimeout, err)
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.err)
		case <-tick.C:
		}
	}
}

// Log returns what the server wrote to stdout and stderr.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "versitygw.log"))
	return string(b)
}

// Stop ends the server and removes its data.
func (s *Server) Stop() error {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	return os.RemoveAll(s.dir)
}

// StartT starts a server for tb (skipping as Require does), stopped when
// tb ends.
func StartT(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start(Require(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Env returns the AWS environment variables that reach the server.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": SecretAccessKey,
		"AWS_REGION":            Region,
		"AWS_ENDPOINT_URL_S3":   s.Endpoint,
	}
}

// URL returns the s3:// URL of prefix in bucket on the server, with the
// endpoint and path-style addressing as parameters.
func (s *Server) URL(bucket, prefix string) string {
	return "s3://" + bucket + "/" + strings.TrimPrefix(prefix, "/") + "?endpoint=" + s.Endpoint + "&path_style=true"
}

// Client returns a client of the server for tb, with path-style
// addressing; its idle connections close when tb ends.
func (s *Server) Client(tb testing.TB) *minio.Core {
	tb.Helper()
	tr, err := minio.DefaultTransport(false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tr.CloseIdleConnections)
	c, err := minio.NewCore(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(AccessKeyID, SecretAccessKey, ""),
		Transport:    tr,
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// NewBucket creates a bucket with a new name and returns the name.
func (s *Server) NewBucket(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gantry-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client(tb).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		tb.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// Shared is one server for a whole test binary, started on first use.
// TestMain stops it after the tests (and before checking for leaked
// goroutines: one waits for the process).
type Shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Get returns the shared server, starting it if needed, or skips tb as
// Require does.
func (sh *Shared) Get(tb testing.TB) *Server {
	tb.Helper()
	binary := Require(tb)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv == nil && sh.err == nil {
		sh.srv, sh.err = Start(binary)
	}
	if sh.err != nil {
		tb.Fatal(sh.err)
	}
	return sh.srv
}

// Stop stops the shared server, if it was started.
func (sh *Shared) Stop() error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv == nil {
		return nil
	}
	err := sh.srv.Stop()
	sh.srv, sh.err = nil, errors.New("s3test: the shared server was stopped")
	return err
}
