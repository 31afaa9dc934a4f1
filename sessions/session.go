package sessions

import (
	"crypto/rand"
	"encoding/base64"
	"maps"
	"slices"
	"sync"
	"time"
)

// idBytes is the number of random bytes in a session ID.
const idBytes = 32

// Session is one client's session data: string keys and string values (store structured
// values as JSON), an ID, and an expiry. Its methods are safe for concurrent use.
//
// Stores build sessions with New and Restore; handlers and consumers get them from a Manager
// (Get, FromRequest) or from a scope (FromScope).
type Session struct {
	mu       sync.Mutex
	id       string
	prevID   string
	values   map[string]string
	expires  time.Time
	isNew    bool
	modified bool
	version  uint64 // counts changes, so a save racing a change keeps it modified
}

// New returns a new, empty session with a fresh random ID.
func New() *Session {
	return &Session{id: NewID(), values: map[string]string{}, isNew: true}
}

// Restore returns a session loaded by a Store: its ID, values (the map is kept, not copied)
// and expiry. It is neither new nor modified.
func Restore(id string, values map[string]string, expires time.Time) *Session {
	if values == nil {
		values = map[string]string{}
	}
	return &Session{id: id, values: values, expires: expires}
}

// NewID returns a new session ID: 32 bytes from crypto/rand, base64url-encoded (43
// characters).
func NewID() string {
	var b [idBytes]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ID returns the session's ID.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// PreviousID returns the ID the session had before RotateID or Flush, until it is saved; ""
// when the ID has not changed. A server-side Store deletes that ID when it saves.
func (s *Session) PreviousID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prevID
}

// Get returns the value stored under key.
func (s *Session) Get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v, ok
}

// Set stores value under key.
func (s *Session) Set(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.values[key]; ok && old == value {
		return
	}
	s.values[key] = value
	s.changed()
}

// Delete removes key.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.values[key]; ok {
		delete(s.values, key)
		s.changed()
	}
}

// Clear removes every key, keeping the ID.
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.values) > 0 {
		clear(s.values)
		s.changed()
	}
}

// Flush removes every key and gives the session a new ID, as on logout; the old ID is deleted
// from a server-side store when the session is saved.
func (s *Session) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.values)
	s.rotateLocked()
}

// RotateID gives the session a new ID and keeps its data, so that an ID an attacker planted
// before login is worth nothing after it (session fixation). The old ID is deleted from a
// server-side store when the session is saved.
func (s *Session) RotateID() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotateLocked()
}

func (s *Session) rotateLocked() {
	if s.prevID == "" && !s.isNew {
		s.prevID = s.id
	}
	s.id = NewID()
	s.changed()
}

// Keys returns the keys, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.values))
}

// Values returns a copy of the data, for a Store to encode.
func (s *Session) Values() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.values)
}

// Len returns the number of keys.
func (s *Session) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// Modified reports whether the session changed (a value, or its ID) since it was loaded or
// last saved.
func (s *Session) Modified() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modified
}

// IsNew reports whether the session was created rather than loaded from a store (the client
// had no valid session) and has not been saved yet.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isNew
}

// Expires returns when the session expires: set when it is saved, and the zero time for a
// new session.
func (s *Session) Expires() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expires
}

// changed records a change; the caller holds s.mu.
func (s *Session) changed() {
	s.modified = true
	s.version++
}

// state returns the change counter and the number of keys, consistently.
func (s *Session) state() (version uint64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, len(s.values)
}

// setExpires is called by the Manager before it saves.
func (s *Session) setExpires(t time.Time) {
	s.mu.Lock()
	s.expires = t
	s.mu.Unlock()
}

// markSaved is called by the Manager after the store saved (or deleted) the session as it was
// at version. A change made meanwhile keeps the session modified.
func (s *Session) markSaved(version uint64) {
	s.mu.Lock()
	if s.version == version {
		s.modified = false
		s.prevID = ""
	}
	s.isNew = false
	s.mu.Unlock()
}

// snapshot returns what a store needs, consistently.
func (s *Session) snapshot() (id, prevID string, values map[string]string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.prevID, maps.Clone(s.values), s.expires
}
