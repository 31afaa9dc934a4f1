package auth

import (
	"context"
	"errors"
)

// User is an identified client of the site, as the application's UserLoader returns it.
type User interface {
	// ID is the stable identifier stored in the session ("" for Anonymous).
	ID() string
	// Username is the name to show.
	Username() string
	// IsAuthenticated is true for every real user and false for Anonymous.
	IsAuthenticated() bool
	// IsStaff reports whether the user may use staff-only parts of the site.
	IsStaff() bool
}

// SessionHasher is implemented by a User whose sessions must end when a secret of theirs
// changes: Login stores SessionHash in the session, and the middleware treats the session as
// anonymous once the stored value no longer matches (Django derives it from the password hash;
// derive it from something that changes with the password, never the password itself).
type SessionHasher interface {
	SessionHash() string
}

// AnonymousUser is the User of a client that is not logged in.
type AnonymousUser struct{}

// ID returns "".
func (AnonymousUser) ID() string { return "" }

// Username returns "".
func (AnonymousUser) Username() string { return "" }

// IsAuthenticated returns false.
func (AnonymousUser) IsAuthenticated() bool { return false }

// IsStaff returns false.
func (AnonymousUser) IsStaff() bool { return false }

// Anonymous is the AnonymousUser value UserFrom and UserFromRequest return for a client that
// is not logged in.
var Anonymous User = AnonymousUser{}

// ErrUserNotFound is what a UserLoader returns (wrapped or not) for an ID that names no user
// (any more). The middleware treats it as anonymous without logging an error.
var ErrUserNotFound = errors.New("auth: user not found")

// UserLoader loads users by the ID stored in their session.
type UserLoader interface {
	// LoadUser returns the user with id, or an error wrapping ErrUserNotFound.
	LoadUser(ctx context.Context, id string) (User, error)
}

// UserLoaderFunc adapts a function to the UserLoader interface.
type UserLoaderFunc func(ctx context.Context, id string) (User, error)

// LoadUser calls f(ctx, id).
func (f UserLoaderFunc) LoadUser(ctx context.Context, id string) (User, error) { return f(ctx, id) }
