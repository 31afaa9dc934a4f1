package sessions

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
)

func mustCookieStore(t testing.TB, keys ...[]byte) *CookieStore {
	t.Helper()
	cs, err := NewCookieStore(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestNewCookieStoreKeys(t *testing.T) {
	if _, err := NewCookieStore(); err == nil {
		t.Error("no keys: no error")
	}
	if _, err := NewCookieStore(key1, []byte("short")); err == nil || !strings.Contains(err.Error(), "key 1") {
		t.Errorf("short key: %v", err)
	}
}

func TestCookieStoreRoundTrip(t *testing.T) {
	ctx := t.Context()
	cs := mustCookieStore(t, key1)
	s := New()
	s.Set("user", "42")
	s.Set("theme", "dark; \"quoted\" ü")
	v, err := cs.Save(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cs.Load(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if got.IsNew() || got.ID() != s.ID() || got.Modified() {
		t.Fatalf("loaded new=%v id=%v modified=%v", got.IsNew(), got.ID() == s.ID(), got.Modified())
	}
	if u, _ := got.Get("user"); u != "42" {
		t.Fatalf("user = %q", u)
	}
	if th, _ := got.Get("theme"); th != "dark; \"quoted\" ü" {
		t.Fatalf("theme = %q", th)
	}
	if time.Until(got.Expires()) < DefaultMaxAge-time.Minute {
		t.Fatalf("expires %v, want about DefaultMaxAge from now", got.Expires())
	}
}

// signed builds a cookie value with an arbitrary payload, validly signed with key.
func signed(cs *CookieStore, key []byte, payload string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(payload))
	return p + "." + base64.RawURLEncoding.EncodeToString(cs.mac(key, p))
}

func TestCookieStoreBadInput(t *testing.T) {
	ctx := t.Context()
	cs := mustCookieStore(t, key1)
	s := New()
	s.Set("user", "42")
	good, _ := cs.Save(ctx, s)
	future := time.Now().Add(time.Hour).Unix()
	inputs := map[string]string{
		"empty":             "",
		"dot":               ".",
		"no dot":            strings.ReplaceAll(good, ".", ""),
		"two dots":          good + ".",
		"short mac":         good[:len(good)-2],
		"bad base64 mac":    good[:len(good)-1] + "*",
		"payload only":      good[:strings.IndexByte(good, '.')],
		"huge":              strings.Repeat("a", 1<<20),
		"nul bytes":         "\x00\x00.\x00",
		"other key":         signed(cs, key2, `{"i":"x","e":`+itoa(future)+`}`),
		"signed bad json":   signed(cs, key1, `{"i":`),
		"signed not object": signed(cs, key1, `[1,2]`),
		"signed no id":      signed(cs, key1, `{"e":`+itoa(future)+`}`),
		"signed wrong type": signed(cs, key1, `{"i":"x","e":"soon"}`),
		"signed bad values": signed(cs, key1, `{"i":"x","e":`+itoa(future)+`,"v":{"a":1}}`),
		"signed expired":    signed(cs, key1, `{"i":"x","e":`+itoa(time.Now().Add(-time.Second).Unix())+`}`),
		"signed no expiry":  signed(cs, key1, `{"i":"x"}`),
	}
	// Every single-byte change of a good value is refused.
	for i := 0; i < len(good); i++ {
		b := []byte(good)
		b[i] ^= 0x01
		inputs["flip "+itoa(int64(i))] = string(b)
	}
	for name, in := range inputs {
		got, err := cs.Load(ctx, in)
		if err != nil || !got.IsNew() || got.Len() != 0 {
			t.Errorf("%s: Load = new %v, %d keys, err %v; want a new empty session", name, got.IsNew(), got.Len(), err)
		}
	}
	// The signed payload itself is fine when valid.
	ok := signed(cs, key1, `{"i":"x","e":`+itoa(future)+`,"v":{"a":"1"}}`)
	if got, _ := cs.Load(ctx, ok); got.IsNew() || got.ID() != "x" {
		t.Fatal("a valid hand-signed payload was refused")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestCookieStoreExpiry(t *testing.T) {
	ctx := t.Context()
	cs := mustCookieStore(t, key1)
	s := Restore("id", map[string]string{"a": "1"}, time.Now().Add(-time.Second))
	v, err := cs.Save(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.Load(ctx, v); !got.IsNew() {
		t.Fatal("expired session loaded")
	}
}

func TestCookieStoreKeyRotation(t *testing.T) {
	ctx := t.Context()
	old := mustCookieStore(t, key1)
	rotated := mustCookieStore(t, key2, key1)
	onlyNew := mustCookieStore(t, key2)
	s := New()
	s.Set("a", "1")
	v1, _ := old.Save(ctx, s)
	if got, _ := rotated.Load(ctx, v1); got.IsNew() {
		t.Fatal("rotated store refused a cookie signed with its old key")
	}
	if got, _ := onlyNew.Load(ctx, v1); !got.IsNew() {
		t.Fatal("store without the old key accepted its cookie")
	}
	v2, _ := rotated.Save(ctx, s)
	if got, _ := onlyNew.Load(ctx, v2); got.IsNew() {
		t.Fatal("rotated store did not sign with its first key")
	}
	if got, _ := old.Load(ctx, v2); !got.IsNew() {
		t.Fatal("old store accepted a cookie signed with a key it does not have")
	}
}

func TestCookieStoreTooLarge(t *testing.T) {
	cs := mustCookieStore(t, key1)
	s := New()
	s.Set("big", strings.Repeat("x", 4000))
	if _, err := cs.Save(t.Context(), s); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Save of a big session: %v, want ErrTooLarge", err)
	}
}

func FuzzCookieStoreLoad(f *testing.F) {
	cs := mustCookieStore(f, key1)
	// Deterministic, so that every fuzzing process computes the same value.
	s := Restore("fixed-id", map[string]string{"a": "1"}, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	good, _ := cs.Save(f.Context(), s)
	for _, seed := range []string{"", ".", good, good + "x", "a.b", "\xff.\xff", signed(cs, key1, "{}")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := cs.Load(t.Context(), v)
		if err != nil || got == nil {
			t.Fatalf("Load(%q) = %v, %v", v, got, err)
		}
		if !got.IsNew() && v != good {
			// Only validly signed values load; a fuzzer will not forge HMAC-SHA256.
			t.Fatalf("Load(%q) accepted a value that is not the one we signed", v)
		}
	})
}

func TestMemoryStore(t *testing.T) {
	ctx := t.Context()
	ms := NewMemoryStore()
	now := time.Now()
	ms.now = func() time.Time { return now }

	s := New()
	s.Set("a", "1")
	s.setExpires(now.Add(time.Hour))
	v, err := ms.Save(ctx, s)
	if err != nil || v != s.ID() {
		t.Fatalf("Save = %q, %v", v, err)
	}
	s.Set("a", "changed after save")
	got, _ := ms.Load(ctx, v)
	if got.IsNew() || got.ID() != v {
		t.Fatal("saved session not loaded")
	}
	if a, _ := got.Get("a"); a != "1" {
		t.Fatalf("a = %q: the store shares the session's map", a)
	}

	// Unknown and malformed IDs give a new session with a fresh ID (no fixation).
	for _, bad := range []string{"", "x", NewID(), strings.Repeat("!", 43), v + "x"} {
		got, err := ms.Load(ctx, bad)
		if err != nil || !got.IsNew() || got.ID() == bad {
			t.Errorf("Load(%q): new=%v sameID=%v err=%v", bad, got.IsNew(), got.ID() == bad, err)
		}
	}

	// RotateID drops the old ID on save.
	got.RotateID()
	if got.PreviousID() != v {
		t.Fatalf("PreviousID = %q", got.PreviousID())
	}
	v2, _ := ms.Save(ctx, got)
	if old, _ := ms.Load(ctx, v); !old.IsNew() {
		t.Fatal("old ID still loads after RotateID and Save")
	}
	if again, _ := ms.Load(ctx, v2); again.IsNew() {
		t.Fatal("rotated session not stored")
	}

	// Expiry.
	now = now.Add(2 * time.Hour)
	if exp, _ := ms.Load(ctx, v2); !exp.IsNew() {
		t.Fatal("expired session loaded")
	}
	if ms.Len() != 0 {
		t.Fatalf("Len = %d after the expired session was looked up", ms.Len())
	}

	// Delete.
	d := New()
	d.Set("k", "v")
	dv, _ := ms.Save(ctx, d)
	_ = ms.Delete(ctx, d)
	if got, _ := ms.Load(ctx, dv); !got.IsNew() {
		t.Fatal("deleted session loaded")
	}
}

func TestMemoryStoreSweep(t *testing.T) {
	ctx := t.Context()
	ms := NewMemoryStore()
	now := time.Now()
	ms.now = func() time.Time { return now }
	for i := 0; i < 10; i++ {
		s := New()
		s.setExpires(now.Add(time.Minute))
		_, _ = ms.Save(ctx, s)
	}
	now = now.Add(time.Hour)
	for i := 0; i < sweepEvery; i++ {
		s := New()
		s.setExpires(now.Add(time.Minute))
		_, _ = ms.Save(ctx, s)
	}
	if ms.Len() > sweepEvery {
		t.Fatalf("Len = %d: expired sessions were not swept", ms.Len())
	}
}

func TestSessionMethods(t *testing.T) {
	s := New()
	if !s.IsNew() || s.Modified() || len(s.ID()) != 43 {
		t.Fatal("bad new session")
	}
	s.Set("b", "2")
	s.Set("a", "1")
	if !s.Modified() || strings.Join(s.Keys(), ",") != "a,b" {
		t.Fatalf("keys %v", s.Keys())
	}
	r := Restore("id", map[string]string{"a": "1"}, time.Time{})
	r.Set("a", "1")
	if r.Modified() {
		t.Fatal("setting the same value marked the session modified")
	}
	r.Delete("missing")
	r.Clear()
	if !r.Modified() || r.Len() != 0 || r.ID() != "id" {
		t.Fatal("Clear")
	}
	r.Flush()
	if r.ID() == "id" || r.PreviousID() != "id" {
		t.Fatal("Flush did not rotate the ID")
	}
	r.RotateID()
	if r.PreviousID() != "id" {
		t.Fatal("a second rotation lost the stored ID")
	}
}
