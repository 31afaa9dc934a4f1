package django

import (
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"testing"
	"time"
)

// sign signs value as Django's TimestampSigner does (for the fuzz seeds).
func sign(key, salt, value string, ts int64) string {
	const digits = base62Alphabet
	b62 := ""
	for n := ts; n > 0; n /= 62 {
		b62 = string(digits[n%62]) + b62
	}
	v := value + ":" + b62
	return v + ":" + base64.RawURLEncoding.EncodeToString(saltedHMAC(sha256.New, salt+"signer", key, v))
}

// FuzzSignedCookie feeds arbitrary cookie values to the signed_cookies decoder: it never
// panics, and only the value signed with the key is accepted.
func FuzzSignedCookie(f *testing.F) {
	const key = "fuzz-key"
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &signer{keys: []string{key}, algs: []func() hash.Hash{sha256.New}}
	good := sign(key, saltSignedCookies, base64.RawURLEncoding.EncodeToString([]byte(`{"_auth_user_id":"1"}`)), now.Unix())
	if _, err := s.loads(good, saltSignedCookies, time.Hour, now); err != nil {
		f.Fatalf("the seed signed like Django is refused: %v", err)
	}
	for _, seed := range []string{"", ":", "::", good, good + "x", ".:0:", "eyJ9:1:x", sign("other", saltSignedCookies, "e30", now.Unix())} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := s.loads(v, saltSignedCookies, time.Hour, now)
		if err == nil && v != good {
			t.Fatalf("loads(%q) accepted a value that is not the one we signed: %v", v, m)
		}
		if err == nil && m["_auth_user_id"] != "1" {
			t.Fatalf("the signed value decoded to %v", m)
		}
	})
}
