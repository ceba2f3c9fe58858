// Package pushtargetpython tests push_target.py as a user would run it:
// python3 on a loopback port, sent requests signed as Gantry signs them.
package pushtargetpython_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sign is Gantry's signature of body at t with secret (internal/push.Sign,
// whose test vector TestSignatureVector pins).
func sign(secret string, t time.Time, body string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + body))
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func TestPythonTarget(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	cmd := exec.Command(py, "push_target.py", "--port", "0")
	cmd.Env = append(cmd.Environ(), "GANTRY_PUSH_SECRET=old-secret, s3cret")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stderr)
	var addr string
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "push-target: listening on "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("push_target.py did not say where it listens")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	body := `{"id":"01J","kind":"thumbnail","args":{"w":256}}`
	now := time.Now()
	for _, tc := range []struct {
		name, sig, body string
		want            int
	}{
		{"Valid", sign("s3cret", now, body), body, 200},
		{"RotatedSecret", sign("old-secret", now, body), body, 200},
		{"WrongSecret", sign("other", now, body), body, 401},
		{"ChangedBody", sign("s3cret", now, body), strings.Replace(body, "256", "257", 1), 401},
		{"Replayed", sign("s3cret", now.Add(-time.Hour), body), body, 401},
		{"Unsigned", "", body, 401},
	} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/thumbnail", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Gantry-Signature", tc.sig)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
}
