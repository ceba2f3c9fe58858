package store

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// NewID returns a new job id: a UUIDv7, so ids sort by creation time.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// NewLeaseToken returns a token that fences one attempt of a job: it names
// the attempt and carries 96 random bits, so a token from an earlier attempt,
// or a guessed one, never matches the current lease.
func NewLeaseToken(attempt int) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return strconv.Itoa(attempt) + "." + hex.EncodeToString(b[:])
}

// LeaseAttempt returns the attempt a lease token was issued for, or false
// when the token is malformed.
func LeaseAttempt(token string) (int, bool) {
	a, rest, ok := strings.Cut(token, ".")
	if !ok || len(rest) != 24 {
		return 0, false
	}
	n, err := strconv.Atoi(a)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}
