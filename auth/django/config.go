package django

import (
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/sessions"
)

// The session engines (Django's SESSION_ENGINE values) that a Site reads.
const (
	// EngineDB keeps sessions in the django_session table (Django's default).
	EngineDB = "django.contrib.sessions.backends.db"
	// EngineSignedCookies keeps the whole session in the signed cookie.
	EngineSignedCookies = "django.contrib.sessions.backends.signed_cookies"
	// EngineCache keeps sessions in the cache; a Site reads it from Redis.
	EngineCache = "django.contrib.sessions.backends.cache"
	// EngineCachedDB reads the cache first and the django_session table on a miss.
	EngineCachedDB = "django.contrib.sessions.backends.cached_db"
)

// DefaultBackend is the authentication backend a session must name when
// Config.AuthenticationBackends is empty (Django's default AUTHENTICATION_BACKENDS).
const DefaultBackend = "django.contrib.auth.backends.ModelBackend"

// Config is the part of a Django site's settings that a Site needs. Only SecretKey and DB
// are required; every other field defaults to Django's default setting.
type Config struct {
	// SecretKey is the site's SECRET_KEY. Keep it out of the code and logs: read it from
	// the environment or a file.
	SecretKey string
	// SecretKeyFallbacks is SECRET_KEY_FALLBACKS (Django 4.1+): older keys still accepted.
	SecretKeyFallbacks []string
	// SessionEngine is SESSION_ENGINE (EngineDB): EngineDB, EngineSignedCookies,
	// EngineCache or EngineCachedDB.
	SessionEngine string
	// SessionCookieName is SESSION_COOKIE_NAME ("sessionid").
	SessionCookieName string
	// SessionCookieAge is SESSION_COOKIE_AGE (two weeks): how old a signed_cookies
	// session may be, counted from its last save, as Django counts it.
	SessionCookieAge time.Duration
	// AuthenticationBackends is AUTHENTICATION_BACKENDS ([DefaultBackend]): a session
	// logged in through another backend is refused, as Django does.
	AuthenticationBackends []string
	// Legacy accepts the formats of Django before 3.1, which Django 3.1 and 3.2 still
	// read (and write under DEFAULT_HASHING_ALGORITHM = "sha1"): SHA-1 signatures, the
	// old base64 "hash:json" session data, and SHA-1 session auth hashes.
	Legacy bool
	// HashingAlgorithm is DEFAULT_HASHING_ALGORITHM of Django 3.1 and 3.2: "sha256" (the
	// default, and the only choice since Django 4.0) or "sha1", which implies Legacy and
	// makes the SessionHash of LoadUser's users the SHA-1 one, as that Django writes it.
	HashingAlgorithm string

	// DB is the site's database, for auth_user and, with EngineDB and EngineCachedDB,
	// django_session. The package imports no driver: open it with pgx's stdlib for
	// PostgreSQL or a SQLite driver, and set Dialect.
	DB *sql.DB
	// Dialect is DB's SQL dialect: sessions.PostgreSQL or sessions.SQLite.
	Dialect sessions.Dialect
	// SessionTable is the sessions table ("django_session").
	SessionTable string
	// UserTable is the users table ("auth_user"). A custom user model stored in another
	// table works only if it has auth_user's columns (id, password, username, is_active,
	// is_staff, is_superuser).
	UserTable string
	// TimeZone is the zone of django_session.expire_date when the site has USE_TZ =
	// False (its TIME_ZONE); nil means UTC, which is what Django stores with USE_TZ = True.
	TimeZone *time.Location

	// Redis is the cache's Redis, for EngineCache and EngineCachedDB.
	Redis redis.UniversalClient
	// CacheKeyPrefix is the cache's KEY_PREFIX ("").
	CacheKeyPrefix string
	// CacheVersion is the cache's VERSION (1).
	CacheVersion int
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ErrConfig is wrapped by New's errors: the configuration cannot work.
var ErrConfig = errors.New("django: bad configuration")

func (c *Config) check() error {
	if c.SecretKey == "" {
		return fmt.Errorf("%w: SecretKey (the site's SECRET_KEY) is empty", ErrConfig)
	}
	for i, k := range c.SecretKeyFallbacks {
		if k == "" {
			return fmt.Errorf("%w: SecretKeyFallbacks[%d] is empty", ErrConfig, i)
		}
	}
	if c.SessionEngine == "" {
		c.SessionEngine = EngineDB
	}
	if c.SessionCookieName == "" {
		c.SessionCookieName = "sessionid"
	}
	if c.SessionCookieAge <= 0 {
		c.SessionCookieAge = 14 * 24 * time.Hour
	}
	if len(c.AuthenticationBackends) == 0 {
		c.AuthenticationBackends = []string{DefaultBackend}
	}
	if c.SessionTable == "" {
		c.SessionTable = "django_session"
	}
	if c.UserTable == "" {
		c.UserTable = "auth_user"
	}
	if c.TimeZone == nil {
		c.TimeZone = time.UTC
	}
	switch c.HashingAlgorithm {
	case "", "sha256":
		c.HashingAlgorithm = "sha256"
	case "sha1":
		c.Legacy = true
	default:
		return fmt.Errorf("%w: HashingAlgorithm %q is not sha256 or sha1", ErrConfig, c.HashingAlgorithm)
	}
	if c.CacheVersion == 0 {
		c.CacheVersion = 1
	}
	if c.DB == nil {
		return fmt.Errorf("%w: DB (the site's database, for %s) is nil", ErrConfig, c.UserTable)
	}
	if c.Dialect != sessions.PostgreSQL && c.Dialect != sessions.SQLite {
		return fmt.Errorf("%w: Dialect %v is not sessions.PostgreSQL or sessions.SQLite", ErrConfig, c.Dialect)
	}
	for _, t := range []string{c.SessionTable, c.UserTable} {
		if !identRe.MatchString(t) {
			return fmt.Errorf("%w: invalid table name %q", ErrConfig, t)
		}
	}
	switch c.SessionEngine {
	case EngineDB, EngineSignedCookies:
	case EngineCache, EngineCachedDB:
		if c.Redis == nil {
			return fmt.Errorf("%w: SessionEngine %s needs Redis", ErrConfig, c.SessionEngine)
		}
	default:
		return fmt.Errorf("%w: SessionEngine %q is not supported (db, signed_cookies, cache, cached_db)", ErrConfig, c.SessionEngine)
	}
	return nil
}

func (c *Config) signer() *signer {
	s := &signer{keys: append([]string{c.SecretKey}, c.SecretKeyFallbacks...), algs: []func() hash.Hash{sha256.New}}
	switch {
	case c.HashingAlgorithm == "sha1":
		s.algs = []func() hash.Hash{sha1.New, sha256.New} // the first is the one Django writes
	case c.Legacy:
		s.algs = append(s.algs, sha1.New)
	}
	return s
}
