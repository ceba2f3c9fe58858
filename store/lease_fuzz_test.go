package store_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/store"
)

// FuzzLeaseToken: LeaseAttempt takes any string a worker sends without
// panicking, accepts only what NewLeaseToken makes (an attempt of 1 or
// more, a dot, 24 characters), and reads back the attempt of every token
// NewLeaseToken makes.
func FuzzLeaseToken(f *testing.F) {
	f.Add("1.9dfcda1e809038e2db79093a", 3)
	f.Add("0.000000000000000000000000", 1)
	f.Add("-1.9dfcda1e809038e2db79093a", 1000)
	f.Add("99999999999999999999.9dfcda1e809038e2db79093a", 1)
	f.Add("1.9dfcda1e809038e2db7909", 2)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, token string, attempt int) {
		if n, ok := store.LeaseAttempt(token); ok {
			a, rest, _ := strings.Cut(token, ".")
			if n < 1 || len(rest) != 24 || strconv.Itoa(n) != strings.TrimLeft(strings.TrimPrefix(a, "+"), "0") {
				t.Fatalf("LeaseAttempt(%q) = %d, true", token, n)
			}
		}
		if attempt < 1 || attempt > store.MaxMaxAttempts {
			return
		}
		tok := store.NewLeaseToken(attempt)
		if n, ok := store.LeaseAttempt(tok); !ok || n != attempt {
			t.Fatalf("LeaseAttempt(NewLeaseToken(%d) = %q) = %d, %v", attempt, tok, n, ok)
		}
		if tok == store.NewLeaseToken(attempt) {
			t.Fatalf("two tokens of attempt %d are equal: %q", attempt, tok)
		}
	})
}
