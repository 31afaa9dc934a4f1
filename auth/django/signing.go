package django

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"
)

// maxSessionData bounds the decompressed size of one session's data.
const maxSessionData = 1 << 20

// Salts Django uses for sessions and for the auth hash.
const (
	saltSignedCookies = "django.contrib.sessions.backends.signed_cookies"
	// saltDBSession is SessionBase.key_salt for the db and cached_db engines'
	// SessionStore classes ("django.contrib.sessions." + class __qualname__).
	saltDBSession     = "django.contrib.sessions.SessionStore"
	saltLegacySession = "django.contrib.sessionsSessionStore"
	saltAuthHash      = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
)

// errBadSignature is a signature that none of the keys made (tampering, another site, or a
// rotated SECRET_KEY).
var errBadSignature = errors.New("bad signature")

// saltedHMAC is django.utils.crypto.salted_hmac: HMAC(H(keySalt + secret), value).
func saltedHMAC(newHash func() hash.Hash, keySalt, secret, value string) []byte {
	kh := newHash()
	kh.Write([]byte(keySalt))
	kh.Write([]byte(secret))
	m := hmac.New(newHash, kh.Sum(nil))
	m.Write([]byte(value))
	return m.Sum(nil)
}

// signer verifies what django.core.signing's TimestampSigner signed.
type signer struct {
	keys []string           // SECRET_KEY, then SECRET_KEY_FALLBACKS
	algs []func() hash.Hash // the one Django writes first, then any other accepted
}

// unsign checks signed ("value:timestamp:signature") with salt and returns the value and
// its timestamp.
func (s *signer) unsign(signed, salt string) (value string, ts time.Time, err error) {
	i := strings.LastIndexByte(signed, ':')
	if i < 0 {
		return "", time.Time{}, errors.New("no signature")
	}
	value, sig := signed[:i], signed[i+1:]
	ok := false
	for _, k := range s.keys {
		for _, alg := range s.algs {
			want := base64.RawURLEncoding.EncodeToString(saltedHMAC(alg, salt+"signer", k, value))
			if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1 {
				ok = true
			}
		}
	}
	if !ok {
		return "", time.Time{}, errBadSignature
	}
	j := strings.LastIndexByte(value, ':')
	if j < 0 {
		return "", time.Time{}, errors.New("no timestamp")
	}
	secs, err := base62Decode(value[j+1:])
	if err != nil {
		return "", time.Time{}, err
	}
	return value[:j], time.Unix(secs, 0), nil
}

// loads is django.core.signing.loads with the JSON serializer: it checks the signature,
// then decodes the (possibly zlib-compressed, "."-prefixed) base64 JSON object. maxAge > 0
// refuses a value signed longer ago than that.
func (s *signer) loads(signed, salt string, maxAge time.Duration, now time.Time) (map[string]any, error) {
	value, ts, err := s.unsign(signed, salt)
	if err != nil {
		return nil, err
	}
	if maxAge > 0 && now.Sub(ts) > maxAge {
		return nil, fmt.Errorf("signed %v ago, older than %v", now.Sub(ts).Truncate(time.Second), maxAge)
	}
	compressed := strings.HasPrefix(value, ".")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(value, "."))
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if compressed {
		if raw, err = inflate(raw); err != nil {
			return nil, err
		}
	}
	return decodeJSON(raw)
}

// legacyDecode reads the session data format of Django before 3.1 (still written by Django
// 3.1 and 3.2 under DEFAULT_HASHING_ALGORITHM = "sha1"): base64 of the hex SHA-1 salted
// HMAC, ":", and the JSON.
func (s *signer) legacyDecode(data string) (map[string]any, error) {
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("legacy payload: %w", err)
	}
	mac, serialized, ok := bytes.Cut(raw, []byte(":"))
	if !ok {
		return nil, errors.New("legacy payload: no hash")
	}
	valid := false
	for _, k := range s.keys {
		want := hex.EncodeToString(saltedHMAC(sha1.New, saltLegacySession, k, string(serialized)))
		if subtle.ConstantTimeCompare(mac, []byte(want)) == 1 {
			valid = true
		}
	}
	if !valid {
		return nil, errBadSignature
	}
	return decodeJSON(serialized)
}

// authHashMatches reports whether stored is a session auth hash Django accepts for the
// password hash: HMAC-SHA256 under each key, or HMAC-SHA1 when legacy hashes are accepted.
func (s *signer) authHashMatches(stored, password string) bool {
	ok := false
	for _, k := range s.keys {
		for _, alg := range s.algs {
			want := hex.EncodeToString(saltedHMAC(alg, saltAuthHash, k, password))
			if subtle.ConstantTimeCompare([]byte(stored), []byte(want)) == 1 {
				ok = true
			}
		}
	}
	return ok
}

func inflate(raw []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("zlib: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxSessionData+1))
	if err != nil {
		return nil, fmt.Errorf("zlib: %w", err)
	}
	if len(out) > maxSessionData {
		return nil, fmt.Errorf("session data larger than %d bytes", maxSessionData)
	}
	return out, nil
}

func decodeJSON(raw []byte) (map[string]any, error) {
	if len(raw) > maxSessionData {
		return nil, fmt.Errorf("session data larger than %d bytes", maxSessionData)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("session JSON: %w", err)
	}
	if m == nil {
		return nil, errors.New("session JSON is not an object")
	}
	return m, nil
}

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62Decode decodes a TimestampSigner timestamp (django.utils.baseconv.base62).
func base62Decode(s string) (int64, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("bad timestamp %q", s)
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base62Alphabet, s[i])
		if d < 0 {
			return 0, fmt.Errorf("bad timestamp %q", s)
		}
		n = n*62 + int64(d)
	}
	return n, nil
}

// authHash is Django's get_session_auth_hash under SECRET_KEY with the algorithm Django
// writes (SHA-256, or SHA-1 under HashingAlgorithm "sha1").
func (s *signer) authHash(password string) string {
	return hex.EncodeToString(saltedHMAC(s.algs[0], saltAuthHash, s.keys[0], password))
}
