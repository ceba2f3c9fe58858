package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The signature vector that internal/push's TestSignatureVector checks
// Gantry produces.
const (
	vectorSecret = "whsec-test"
	vectorTime   = 1767225600
	vectorBody   = `{"id":"01J","kind":"thumbnail","args":{"w":256}}`
	vectorSig    = "acbbd9f2880eb529d08d6fb0f955a94719bb93cd07cc830b5eb247aac2202ca0"
)

func TestTarget(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Unix(vectorTime+30, 0) }
	srv := httptest.NewServer(handler([]string{"new-secret", vectorSecret}, now))
	defer srv.Close()
	for _, tc := range []struct {
		name, sig, body string
		want            int
	}{
		{"Valid", "t=1767225600,v1=" + vectorSig, vectorBody, 200},
		{"OneOfTwo", "t=1767225600,v1=00ff,v1=" + vectorSig, vectorBody, 200},
		{"Missing", "", vectorBody, 401},
		{"ChangedBody", "t=1767225600,v1=" + vectorSig, strings.Replace(vectorBody, "256", "257", 1), 401},
		{"OtherTime", "t=1767225601,v1=" + vectorSig, vectorBody, 401},
		{"Replayed", "t=1767200000,v1=" + vectorSig, vectorBody, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/thumbnail", strings.NewReader(tc.body))
			req.Header.Set("Gantry-Signature", tc.sig)
			req.Header.Set("Gantry-Job-Id", "01J")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
}
