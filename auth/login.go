package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gochannels/gochannels/sessions"
)

// Session keys used by Login, Logout and the middleware (Django's names).
const (
	// SessionKey holds the logged-in user's ID.
	SessionKey = "_auth_user_id"
	// HashSessionKey holds the user's SessionHash, for users that implement SessionHasher.
	HashSessionKey = "_auth_user_hash"
)

// Login records user as the session's user. It gives the session a new ID (against session
// fixation) and, when the session belonged to another user, drops its data first. The session
// still has to be saved: the net/http and scope middleware do that before the response head,
// or call Manager.Save or sessions.SaveScope (see there about open WebSockets).
func Login(ctx context.Context, s *sessions.Session, user User) error {
	if s == nil {
		return errors.New("auth: login: no session (the session middleware is missing)")
	}
	if user == nil || !user.IsAuthenticated() || user.ID() == "" {
		return errors.New("auth: login: the user is anonymous or has no ID")
	}
	hash := ""
	if h, ok := user.(SessionHasher); ok {
		hash = h.SessionHash()
	}
	if prev, ok := s.Get(SessionKey); ok && (prev != user.ID() || !hashMatches(s, hash)) {
		s.Flush()
	} else {
		s.RotateID()
	}
	s.Set(SessionKey, user.ID())
	if hash != "" {
		s.Set(HashSessionKey, hash)
	} else {
		s.Delete(HashSessionKey)
	}
	slog.DebugContext(ctx, "user logged in", "user", user.ID())
	return nil
}

// Logout empties the session and gives it a new ID (Django's flush); it still has to be saved,
// as after Login. A nil session is a no-op.
//
// When ctx carries a UserGroups (UserGroups.Handler, WithUserGroups; LogoutScope finds the
// one of UserGroups.Middleware), the sockets of the session that was logged in are closed
// on every server with CloseLoggedOut ("logged out"); if that fails the session is still
// flushed, and the error says the sockets stay open. The group is that of the session's
// current ID: a socket opened before a later Login rotated the ID is in the old ID's group
// (UserGroups.CloseUser reaches every socket of the user).
func Logout(ctx context.Context, s *sessions.Session) error {
	if s == nil {
		return nil
	}
	id := s.ID()
	_, loggedIn := s.Get(SessionKey)
	s.Flush()
	if g := userGroupsFrom(ctx); g != nil && loggedIn {
		if err := g.CloseSession(ctx, id, CloseLoggedOut, "logged out"); err != nil {
			return fmt.Errorf("auth: logout: the session's sockets stay open: %w", err)
		}
	}
	return nil
}

// UserForSession returns the user the session names, loaded with loader, or Anonymous when
// the session is nil, names nobody, names an unknown user, or holds a stale SessionHash. A
// loader error other than ErrUserNotFound is logged, and also gives Anonymous.
func UserForSession(ctx context.Context, loader UserLoader, s *sessions.Session) User {
	if s == nil {
		return Anonymous
	}
	id, ok := s.Get(SessionKey)
	if !ok || id == "" {
		return Anonymous
	}
	u, err := loader.LoadUser(ctx, id)
	if err != nil {
		if !errors.Is(err, ErrUserNotFound) {
			slog.ErrorContext(ctx, "auth: loading the session's user failed", "user", id, "err", fmt.Errorf("auth: load user %q: %w", id, err))
		}
		return Anonymous
	}
	if u == nil || !u.IsAuthenticated() {
		return Anonymous
	}
	if h, ok := u.(SessionHasher); ok && !hashMatches(s, h.SessionHash()) {
		slog.InfoContext(ctx, "auth: session hash no longer matches the user; treating as anonymous", "user", id)
		return Anonymous
	}
	return u
}

func hashMatches(s *sessions.Session, hash string) bool {
	stored, _ := s.Get(HashSessionKey)
	return subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) == 1
}
