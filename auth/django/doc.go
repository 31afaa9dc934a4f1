// Package django authenticates the users of an existing Django site in a gochannels
// server: configured with the site's SECRET_KEY and session settings, a Site reads the
// session that Django's sessionid cookie names, straight from the site's session store,
// and the user from its auth_user table, and refuses the session wherever Django's own
// auth would. Site.Middleware puts that user in the scope (auth.UserFrom), so that a
// WebSocket handshake carrying the cookie of a user logged in on the Django site is
// authenticated, and auth.RequireUser refuses the others with 403.
//
// What is read, and checked as Django checks it:
//
//   - SESSION_ENGINE "django.contrib.sessions.backends.db" (the default): the
//     django_session row, on PostgreSQL or SQLite (Config.DB, through any database/sql
//     driver; this package imports none), refused once expire_date is past;
//   - "signed_cookies": the cookie itself, signed by django.core.signing's TimestampSigner
//     with the salt "django.contrib.sessions.backends.signed_cookies" and zlib-compressed,
//     refused once older than SESSION_COOKIE_AGE (Config.SessionCookieAge) since its last
//     save;
//   - "cache": the cached session on Redis (Config.Redis), under Django's cache key
//     (KEY_PREFIX:VERSION:django.contrib.sessions.cache<key>), as written by django-redis
//     with "SERIALIZER": "django_redis.serializers.json.JSONSerializer" (its zlib
//     compressor too); Redis's TTL is the expiry;
//   - "cached_db": the cache (django.contrib.sessions.cached_db<key>), then django_session.
//
// Session data must use the JSON serializer (SESSION_SERIALIZER's default since Django 1.6),
// signed with HMAC-SHA256 under SECRET_KEY or one of SECRET_KEY_FALLBACKS; Config.Legacy
// also accepts what Django before 3.1 wrote (HMAC-SHA1 signatures, the "hash:json" db
// format, SHA-1 session auth hashes), which Django 3.1 and 3.2 still read; a 3.1 or 3.2 site
// with DEFAULT_HASHING_ALGORITHM = "sha1" writes them, and sets Config.HashingAlgorithm to
// "sha1". The user is the auth_user row whose id is the session's _auth_user_id, logged in
// through a backend listed in Config.AuthenticationBackends (ModelBackend by default); the
// session is refused when the user is gone or inactive (is_active false), or when
// _auth_user_hash is missing or is not the salted HMAC
// ("django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash") of the user's
// current password hash: a password change logs out every other session.
// Refusals wrap ErrNotAuthenticated (ErrNoSession, ErrNotLoggedIn, ErrUnknownUser,
// ErrInactive, ErrStaleSession); a failing database or Redis is an error of its own, and
// the middleware refuses such a handshake as unavailable (503), never as forbidden. The
// secret key is never logged, and every comparison is constant-time.
//
// Tested end to end against the Django packaged by Debian 12 (3.2, with python3-psycopg2
// and python3-django-redis 5.2): a Django project logs users in through its own LoginView,
// and the Go server accepts the cookie, then refuses it after a password change, tampering,
// logout or expiry on the Django side, and for an inactive user, for the db engine on
// SQLite and PostgreSQL, signed_cookies, cache and cached_db, and for db and signed_cookies
// again under DEFAULT_HASHING_ALGORITHM = "sha1". Django 4.x and 5.x write the
// same formats (signing, session data, auth hash) as far as their source shows, but only
// 3.2 is tested here; with Legacy, sessions from before 3.1 are read too.
//
// Not covered: custom user models (a model whose table has auth_user's columns works
// through Config.UserTable; other primary keys than integers, or other columns, do not),
// the pickle serializer (PickleSerializer for sessions; the default serializer of
// django-redis and of Django 4's own RedisCache, whose pickled values this package does
// not read), the file engine, memcached, and _session_expiry for signed_cookies (Django
// ignores it server-side too). Django with USE_TZ = False stores expire_date in its
// TIME_ZONE: set Config.TimeZone. A signed cookie cannot be revoked: a copy kept after
// logout stays valid until it expires, for Django and this package alike. The check is made
// when a scope starts; a socket stays open after its user logs out.
package django
