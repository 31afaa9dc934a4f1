package django

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
)

const testKey = "django-insecure-test-key-for-gochannels-0123456789"

type vectors struct {
	Version      string         `json:"version"`
	DataSmall    map[string]any `json:"data_small"`
	DataBig      map[string]any `json:"data_big"`
	CookieSmall  string         `json:"cookie_small"`
	CookieBig    string         `json:"cookie_big"`
	DBSmall      string         `json:"db_small"`
	DBBig        string         `json:"db_big"`
	DBLegacy     string         `json:"db_legacy"`
	Password     string         `json:"password"`
	AuthHash     string         `json:"auth_hash"`
	AuthHashSHA1 string         `json:"auth_hash_sha1"`
}

// djangoVectors runs testdata/vectors.py with the installed Django.
func djangoVectors(t *testing.T, key string) vectors {
	t.Helper()
	py := redistest.RequirePython(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/vectors.py", key).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("vectors.py: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("vectors.py: %v", err)
	}
	var v vectors
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	t.Logf("Django %s", v.Version)
	return v
}

// normalize turns json.Numbers into float64s, as the vectors were decoded.
func normalize(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(m)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDjangoSigning(t *testing.T) {
	v := djangoVectors(t, testKey)
	now := time.Now()
	cfg := Config{SecretKey: testKey}
	s := cfg.signer()

	for name, tc := range map[string]struct {
		signed, salt string
		want         map[string]any
	}{
		"cookie small": {v.CookieSmall, saltSignedCookies, v.DataSmall},
		"cookie big":   {v.CookieBig, saltSignedCookies, v.DataBig},
		"db small":     {v.DBSmall, saltDBSession, v.DataSmall},
		"db big":       {v.DBBig, saltDBSession, v.DataBig},
	} {
		got, err := s.loads(tc.signed, tc.salt, time.Hour, now)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(normalize(t, got), tc.want) {
			t.Errorf("%s: decoded %v, want %v", name, got, tc.want)
		}
	}
	if !strings.HasPrefix(v.CookieBig, ".") {
		t.Error("the big cookie is not compressed: the zlib path is not tested")
	}

	// Refusals: other salt, other key, any changed byte, too old.
	if _, err := s.loads(v.CookieSmall, saltDBSession, 0, now); err == nil {
		t.Error("a signed cookie verified with the db salt")
	}
	other := (&Config{SecretKey: "another key"}).signer()
	if _, err := other.loads(v.CookieSmall, saltSignedCookies, 0, now); !errors.Is(err, errBadSignature) {
		t.Errorf("another key: %v", err)
	}
	for i := range len(v.CookieSmall) {
		b := []byte(v.CookieSmall)
		b[i] ^= 0x01
		if _, err := s.loads(string(b), saltSignedCookies, 0, now); err == nil {
			t.Errorf("changed byte %d accepted", i)
		}
	}
	if _, err := s.loads(v.CookieSmall, saltSignedCookies, time.Second, now.Add(time.Minute)); err == nil {
		t.Error("a cookie older than the max age accepted")
	}
	// Key rotation: a fallback key verifies.
	rotated := (&Config{SecretKey: "new key", SecretKeyFallbacks: []string{testKey}}).signer()
	if _, err := rotated.loads(v.CookieSmall, saltSignedCookies, 0, now); err != nil {
		t.Errorf("fallback key: %v", err)
	}

	// The session auth hash.
	if !s.authHashMatches(v.AuthHash, v.Password) || s.authHash(v.Password) != v.AuthHash {
		t.Error("Django's session auth hash does not match")
	}
	if s.authHashMatches(v.AuthHash, v.Password+"x") {
		t.Error("auth hash matched another password")
	}

	// Legacy formats (Django < 3.1; written by 3.1 and 3.2 under DEFAULT_HASHING_ALGORITHM
	// = "sha1"), when the installed Django still writes them.
	if v.DBLegacy != "" {
		legacy := (&Config{SecretKey: testKey, Legacy: true}).signer()
		got, err := legacy.legacyDecode(v.DBLegacy)
		if err != nil || !reflect.DeepEqual(normalize(t, got), v.DataSmall) {
			t.Errorf("legacy session data: %v, %v", got, err)
		}
		if _, err := other.legacyDecode(v.DBLegacy); err == nil {
			t.Error("legacy data verified with another key")
		}
		if s.authHashMatches(v.AuthHashSHA1, v.Password) {
			t.Error("a SHA-1 auth hash accepted without Legacy")
		}
		if !legacy.authHashMatches(v.AuthHashSHA1, v.Password) {
			t.Error("the SHA-1 auth hash refused with Legacy")
		}
	}
}

func TestBase62(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "z": 61, "10": 62, "1QaUZC": 1_309_014_878} {
		if got, err := base62Decode(s); err != nil || got != want {
			t.Errorf("base62Decode(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "!", "12345678901"} {
		if _, err := base62Decode(bad); err == nil {
			t.Errorf("base62Decode(%q) succeeded", bad)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no key":         {},
		"no db":          {SecretKey: "k"},
		"empty fallback": {SecretKey: "k", SecretKeyFallbacks: []string{""}},
		"bad algorithm":  {SecretKey: "k", HashingAlgorithm: "md5"},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}
