package django

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/sessions"
)

// Session keys Django's auth writes.
const (
	keyUserID  = "_auth_user_id"
	keyBackend = "_auth_user_backend"
	keyHash    = "_auth_user_hash"
)

// Cache key prefixes of Django's cache and cached_db session engines.
const (
	cachePrefix    = "django.contrib.sessions.cache"
	cachedDBPrefix = "django.contrib.sessions.cached_db"
)

// Why a client is not authenticated. Each wraps ErrNotAuthenticated.
var (
	// ErrNotAuthenticated is wrapped by every refusal that is the client's: no valid
	// session, no user in it, or a user that may no longer use it.
	ErrNotAuthenticated = errors.New("django: not authenticated")
	// ErrNoSession: no cookie, or one that names no live session (unknown, expired,
	// tampered, signed with another key, unreadable).
	ErrNoSession = fmt.Errorf("%w: no valid session", ErrNotAuthenticated)
	// ErrNotLoggedIn: the session has no user, or one logged in through a backend not in
	// Config.AuthenticationBackends.
	ErrNotLoggedIn = fmt.Errorf("%w: the session has no user", ErrNotAuthenticated)
	// ErrUnknownUser: the session's user does not exist (any more).
	ErrUnknownUser = fmt.Errorf("%w: unknown user", ErrNotAuthenticated)
	// ErrInactive: the user is not active (is_active is false).
	ErrInactive = fmt.Errorf("%w: inactive user", ErrNotAuthenticated)
	// ErrStaleSession: the session's auth hash no longer matches the user's password
	// (changed since the login), or is missing; Django flushes such a session.
	ErrStaleSession = fmt.Errorf("%w: the session's auth hash does not match the user (password changed)", ErrNotAuthenticated)
)

// Site reads a Django site's sessions and users. It is safe for concurrent use.
type Site struct {
	cfg    Config
	signer *signer
	now    func() time.Time

	sessionQuery, userQuery string
}

// New returns a Site for cfg. It returns an error wrapping ErrConfig for a missing
// SecretKey, DB or Redis, or an unknown engine or dialect.
func New(cfg Config) (*Site, error) {
	cfg.SecretKeyFallbacks = slices.Clone(cfg.SecretKeyFallbacks)
	cfg.AuthenticationBackends = slices.Clone(cfg.AuthenticationBackends)
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Site{cfg: cfg, signer: cfg.signer(), now: time.Now}
	ph := "?"
	if cfg.Dialect == sessions.PostgreSQL {
		ph = "$1"
	}
	s.sessionQuery = "SELECT session_data, expire_date FROM " + cfg.SessionTable + " WHERE session_key = " + ph
	s.userQuery = "SELECT id, password, username, is_active, is_staff, is_superuser FROM " + cfg.UserTable + " WHERE id = " + ph
	return s, nil
}

// CookieName returns the session cookie's name (SESSION_COOKIE_NAME).
func (s *Site) CookieName() string { return s.cfg.SessionCookieName }

// SessionData returns the data of the session the cookie value names, decoded from JSON
// (numbers as json.Number). It returns an error wrapping ErrNoSession when there is no live
// session; any other error is the store's (the database or Redis failing).
func (s *Site) SessionData(ctx context.Context, cookie string) (map[string]any, error) {
	if cookie == "" {
		return nil, ErrNoSession
	}
	switch s.cfg.SessionEngine {
	case EngineSignedCookies:
		m, err := s.signer.loads(cookie, saltSignedCookies, s.cfg.SessionCookieAge, s.now())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoSession, err)
		}
		return m, nil
	case EngineCache:
		return s.fromCache(ctx, cachePrefix, cookie)
	case EngineCachedDB:
		m, err := s.fromCache(ctx, cachedDBPrefix, cookie)
		if !errors.Is(err, ErrNoSession) {
			return m, err
		}
		return s.fromDB(ctx, cookie)
	default:
		return s.fromDB(ctx, cookie)
	}
}

// validKey reports whether k can be a session key Django made: 8 or more (it makes 32)
// lower-case letters and digits.
func validKey(k string) bool {
	if len(k) < 8 || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func (s *Site) fromDB(ctx context.Context, key string) (map[string]any, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("%w: malformed session key", ErrNoSession)
	}
	var data string
	var expire any
	err := s.cfg.DB.QueryRowContext(ctx, s.sessionQuery, key).Scan(&data, &expire)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: unknown session key", ErrNoSession)
	}
	if err != nil {
		return nil, fmt.Errorf("django: read %s: %w", s.cfg.SessionTable, err)
	}
	exp, err := s.parseTime(expire)
	if err != nil {
		return nil, fmt.Errorf("django: %s.expire_date: %w", s.cfg.SessionTable, err)
	}
	if !s.now().Before(exp) {
		return nil, fmt.Errorf("%w: session expired at %v", ErrNoSession, exp)
	}
	m, err := s.signer.loads(data, saltDBSession, 0, s.now())
	if err != nil && s.cfg.Legacy {
		m, err = s.signer.legacyDecode(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: session data: %v", ErrNoSession, err)
	}
	return m, nil
}

// dbTimeLayouts are the ways a driver hands back a DATETIME column as text (SQLite).
var dbTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

func (s *Site) parseTime(v any) (time.Time, error) {
	var text string
	switch t := v.(type) {
	case time.Time:
		if t.Location() == time.UTC && s.cfg.TimeZone != time.UTC {
			// A naive value read as UTC by the driver: it is in TIME_ZONE.
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), s.cfg.TimeZone), nil
		}
		return t, nil
	case string:
		text = t
	case []byte:
		text = string(t)
	default:
		return time.Time{}, fmt.Errorf("unexpected type %T", v)
	}
	for _, layout := range dbTimeLayouts {
		if t, err := time.ParseInLocation(layout, text, s.cfg.TimeZone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", text)
}

func (s *Site) fromCache(ctx context.Context, prefix, key string) (map[string]any, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("%w: malformed session key", ErrNoSession)
	}
	ck := s.cfg.CacheKeyPrefix + ":" + strconv.Itoa(s.cfg.CacheVersion) + ":" + prefix + key
	raw, err := s.cfg.Redis.Get(ctx, ck).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: not in the cache", ErrNoSession)
	}
	if err != nil {
		return nil, fmt.Errorf("django: read the session cache: %w", err)
	}
	if len(raw) > 0 && raw[0] == 0x78 { // django-redis's ZlibCompressor
		if raw, err = inflate(raw); err != nil {
			return nil, fmt.Errorf("%w: cached session: %v", ErrNoSession, err)
		}
	}
	m, err := decodeJSON(raw)
	if err != nil {
		// A pickled value (Django's own RedisCache, django-redis's default serializer).
		return nil, fmt.Errorf("%w: cached session is not JSON (use django-redis's JSONSerializer): %v", ErrNoSession, err)
	}
	return m, nil
}

// Authenticate returns the user logged in on the session the cookie value names, checked
// as Django's auth checks it: a backend in AuthenticationBackends, an existing and active
// user, and a session auth hash that matches the user's current password hash. A refusal
// wraps ErrNotAuthenticated (and says which); any other error is the store's.
func (s *Site) Authenticate(ctx context.Context, cookie string) (*User, error) {
	data, err := s.SessionData(ctx, cookie)
	if err != nil {
		return nil, err
	}
	id := stringValue(data[keyUserID])
	backend := stringValue(data[keyBackend])
	if id == "" || !slices.Contains(s.cfg.AuthenticationBackends, backend) {
		return nil, ErrNotLoggedIn
	}
	u, err := s.user(ctx, id)
	if err != nil {
		return nil, err
	}
	if !u.active {
		return nil, ErrInactive
	}
	hash := stringValue(data[keyHash])
	if hash == "" || !s.signer.authHashMatches(hash, u.password) {
		return nil, ErrStaleSession
	}
	return u, nil
}

func stringValue(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	}
	return ""
}

// user loads a user by primary key (an integer, as Django's default AutoField).
func (s *Site) user(ctx context.Context, id string) (*User, error) {
	pk, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: user id %q is not an integer", ErrUnknownUser, id)
	}
	u := &User{}
	err = s.cfg.DB.QueryRowContext(ctx, s.userQuery, pk).Scan(&u.pk, &u.password, &u.username, &u.active, &u.staff, &u.superuser)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("django: read %s: %w", s.cfg.UserTable, err)
	}
	u.hash = s.signer.authHash(u.password)
	return u, nil
}

// LoadUser implements auth.UserLoader with the site's users: an unknown or inactive user
// gives an error wrapping auth.ErrUserNotFound. The users it returns are SessionHashers
// whose hash is Django's, so auth.Login on a gochannels session stores what Django would.
func (s *Site) LoadUser(ctx context.Context, id string) (auth.User, error) {
	u, err := s.user(ctx, id)
	if errors.Is(err, ErrUnknownUser) {
		return nil, fmt.Errorf("%w: %w", auth.ErrUserNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	if !u.active {
		return nil, fmt.Errorf("%w: %w", auth.ErrUserNotFound, ErrInactive)
	}
	return u, nil
}
