"""Prints, as JSON, values that the installed Django signs and hashes with the secret key
argv[1], for the Go tests to read: signed_cookies cookies, db session data (current and
legacy formats) and session auth hashes."""
import json
import sys

import django
from django.conf import settings

settings.configure(
    SECRET_KEY=sys.argv[1],
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"],
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core import signing  # noqa: E402

small = {"_auth_user_id": "7", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "n": 3}
big = dict(small, filler="gochannels " * 200, unicode="ü \" \\ /")
store = SessionStore()
user = User(password="pbkdf2_sha256$260000$salt$hash=")
out = {
    "version": django.get_version(),
    "data_small": small,
    "data_big": big,
    "cookie_small": signing.dumps(small, salt="django.contrib.sessions.backends.signed_cookies", compress=True),
    "cookie_big": signing.dumps(big, salt="django.contrib.sessions.backends.signed_cookies", compress=True),
    "db_small": store.encode(small),
    "db_big": store.encode(big),
    "password": user.password,
    "auth_hash": user.get_session_auth_hash(),
}
if hasattr(store, "_legacy_encode"):
    out["db_legacy"] = store._legacy_encode(small)
if hasattr(user, "_legacy_get_session_auth_hash"):
    out["auth_hash_sha1"] = user._legacy_get_session_auth_hash()
print(json.dumps(out))
