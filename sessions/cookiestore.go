package sessions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinKeyLen is the shortest secret key NewCookieStore accepts, in bytes.
const MinKeyLen = 32

// MaxCookieValueLen is the longest cookie value a CookieStore writes (browsers keep about
// 4096 bytes per cookie, name and attributes included). Longer values are never even decoded
// by Load.
const MaxCookieValueLen = 3800

// cookieMACContext separates these MACs from any other use of the same keys.
const cookieMACContext = "gochannels.sessions.CookieStore.v1\x00"

// CookieStore keeps the whole session in the cookie: the ID, the data and the expiry, as JSON,
// base64url-encoded and signed with HMAC-SHA256. The data is signed, not encrypted: the client
// can read it, so keep secrets out of it. It holds nothing server-side, so Delete cannot
// revoke a copy of a cookie an attacker kept; it stays valid until its expiry.
type CookieStore struct {
	keys [][]byte
}

// NewCookieStore returns a CookieStore that signs with the first key and accepts a signature
// made with any of them: to rotate, put the new key first and drop the old one after
// DefaultMaxAge (or your MaxAge). Each key must be at least MinKeyLen bytes of secret,
// random data.
func NewCookieStore(secretKeys ...[]byte) (*CookieStore, error) {
	if len(secretKeys) == 0 {
		return nil, errors.New("sessions: NewCookieStore needs at least one secret key")
	}
	st := &CookieStore{}
	for i, k := range secretKeys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("sessions: cookie store key %d is %d bytes, want at least %d", i, len(k), MinKeyLen)
		}
		st.keys = append(st.keys, append([]byte(nil), k...))
	}
	return st, nil
}

type cookiePayload struct {
	ID      string            `json:"i"`
	Expires int64             `json:"e"`
	Values  map[string]string `json:"v,omitempty"`
}

func (c *CookieStore) mac(key []byte, payload string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(cookieMACContext))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// Load verifies and decodes value. Anything wrong with it (bad encoding, bad signature,
// past expiry, bad JSON, too long) gives a New session; the error is always nil.
func (c *CookieStore) Load(ctx context.Context, value string) (*Session, error) {
	s, ok := c.decode(value, time.Now())
	if !ok {
		return New(), nil
	}
	return s, nil
}

func (c *CookieStore) decode(value string, now time.Time) (*Session, bool) {
	if value == "" || len(value) > MaxCookieValueLen {
		return nil, false
	}
	dot := strings.LastIndexByte(value, '.')
	if dot < 0 {
		return nil, false
	}
	payload, sig := value[:dot], value[dot+1:]
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	// The decoder skips CR and LF even in strict mode: accept only the canonical encoding,
	// so that exactly one string carries a given signature.
	if err != nil || len(mac) != sha256.Size || base64.RawURLEncoding.EncodeToString(mac) != sig {
		return nil, false
	}
	valid := false
	for _, k := range c.keys {
		if hmac.Equal(mac, c.mac(k, payload)) {
			valid = true
			break
		}
	}
	if !valid {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return nil, false
	}
	var p cookiePayload
	if err := json.Unmarshal(raw, &p); err != nil || p.ID == "" {
		return nil, false
	}
	exp := time.Unix(p.Expires, 0)
	if !now.Before(exp) {
		return nil, false
	}
	return Restore(p.ID, p.Values, exp), true
}

// Save encodes and signs s with the first key. It returns an error wrapping ErrTooLarge when
// the result would be longer than MaxCookieValueLen.
func (c *CookieStore) Save(ctx context.Context, s *Session) (string, error) {
	id, _, values, expires := s.snapshot()
	p := cookiePayload{ID: id, Expires: expiryOf(expires, time.Now()).Unix(), Values: values}
	raw, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("sessions: encode cookie session: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(raw)
	value := payload + "." + base64.RawURLEncoding.EncodeToString(c.mac(c.keys[0], payload))
	if len(value) > MaxCookieValueLen {
		return "", fmt.Errorf("sessions: cookie session of %d keys encodes to %d bytes, limit %d: %w", len(values), len(value), MaxCookieValueLen, ErrTooLarge)
	}
	return value, nil
}

// Delete does nothing: the session lives only in the cookie, which the Manager clears.
func (c *CookieStore) Delete(ctx context.Context, s *Session) error { return nil }
