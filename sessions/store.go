package sessions

import (
	"context"
	"errors"
	"time"
)

// DefaultMaxAge is how long a session lives after it was last saved when no MaxAge is set:
// two weeks, as in Django.
const DefaultMaxAge = 14 * 24 * time.Hour

// Store keeps sessions. The cookie value is the Store's business: a cookie store puts the
// whole session in it, a server-side store only the session ID. Implementations must be safe
// for concurrent use.
type Store interface {
	// Load returns the session that the cookie value names. An empty, malformed, tampered,
	// expired or unknown value gives a New session (never one with an ID the client chose):
	// bad input is not an error. The error is for a failure of the store itself.
	Load(ctx context.Context, value string) (*Session, error)
	// Save stores s until s.Expires() (DefaultMaxAge from now when that is zero), deleting
	// s.PreviousID() if it is set, and returns the cookie value that names it.
	Save(ctx context.Context, s *Session) (value string, err error)
	// Delete removes s (its ID and its PreviousID) from the store. Deleting a session that is
	// not stored is not an error.
	Delete(ctx context.Context, s *Session) error
}

var (
	// ErrTooLarge is returned (wrapped) by a cookie store's Save when the session does not
	// fit in a cookie.
	ErrTooLarge = errors.New("sessions: session too large for a cookie")
	// ErrCookieNotDelivered is returned (wrapped) by SaveScope when the session was saved but
	// the client's cookie would have to change and cannot, because the response head
	// (the HTTP response start or the WebSocket handshake response) has already been sent.
	// With a cookie store the change is lost; with a server-side store the data is stored,
	// but a new ID (after RotateID) is not known to the client.
	ErrCookieNotDelivered = errors.New("sessions: session cookie cannot be changed after the response head was sent")
)

func expiryOf(t time.Time, now time.Time) time.Time {
	if t.IsZero() {
		return now.Add(DefaultMaxAge)
	}
	return t
}
