package sessions

import (
	"context"
	"encoding/base64"
	"maps"
	"sync"
	"time"
)

// sweepEvery is how many saves a MemoryStore makes between sweeps for expired sessions.
const sweepEvery = 256

// MemoryStore keeps sessions in this process's memory; the cookie holds only the random
// session ID. Sessions expire (they are dropped when looked up after their expiry and by a
// sweep every few hundred saves, with no goroutine of its own) and are lost when the process
// ends; a fleet of processes needs a shared server-side store behind the same interface.
type MemoryStore struct {
	mu    sync.Mutex
	m     map[string]memEntry
	saves int
	now   func() time.Time
}

type memEntry struct {
	values  map[string]string
	expires time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{m: map[string]memEntry{}, now: time.Now}
}

// Load returns the stored session with ID value, or a New session when value is not a
// well-formed ID or names no live session. The error is always nil.
func (ms *MemoryStore) Load(ctx context.Context, value string) (*Session, error) {
	if !validID(value) {
		return New(), nil
	}
	now := ms.now()
	ms.mu.Lock()
	e, ok := ms.m[value]
	if ok && !now.Before(e.expires) {
		delete(ms.m, value)
		ok = false
	}
	ms.mu.Unlock()
	if !ok {
		return New(), nil
	}
	return Restore(value, maps.Clone(e.values), e.expires), nil
}

// Save stores a copy of s's data under its ID (dropping its PreviousID) and returns the ID.
func (ms *MemoryStore) Save(ctx context.Context, s *Session) (string, error) {
	id, prev, values, expires := s.snapshot()
	now := ms.now()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if prev != "" {
		delete(ms.m, prev)
	}
	ms.m[id] = memEntry{values: values, expires: expiryOf(expires, now)}
	ms.saves++
	if ms.saves%sweepEvery == 0 {
		for k, e := range ms.m {
			if !now.Before(e.expires) {
				delete(ms.m, k)
			}
		}
	}
	return id, nil
}

// Delete removes s's ID and PreviousID.
func (ms *MemoryStore) Delete(ctx context.Context, s *Session) error {
	id, prev, _, _ := s.snapshot()
	ms.mu.Lock()
	delete(ms.m, id)
	if prev != "" {
		delete(ms.m, prev)
	}
	ms.mu.Unlock()
	return nil
}

// Len returns the number of stored sessions, expired ones not yet dropped included.
func (ms *MemoryStore) Len() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return len(ms.m)
}

// validID reports whether v looks like an ID from NewID.
func validID(v string) bool {
	if len(v) != base64.RawURLEncoding.EncodedLen(idBytes) {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
