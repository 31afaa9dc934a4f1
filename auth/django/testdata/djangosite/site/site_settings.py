"""Settings of the test project, from the environment that the Go tests set:

DJANGO_SECRET_KEY       SECRET_KEY
DJANGO_SESSION_ENGINE   SESSION_ENGINE (default: db)
DJANGO_SQLITE           path of the SQLite database, or
DJANGO_PG_NAME          PostgreSQL database name (DJANGO_PG_HOST, DJANGO_PG_PORT, DJANGO_PG_USER)
DJANGO_REDIS_URL        the cache's Redis (django-redis, JSON serializer)
DJANGO_CACHE_PREFIX     the cache's KEY_PREFIX
DJANGO_HASHING_ALGORITHM  DEFAULT_HASHING_ALGORITHM (Django 3.1 and 3.2; "sha1" writes the
                        pre-3.1 formats)
"""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "site_urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(BASE_DIR, "templates")],
        "OPTIONS": {"context_processors": ["django.template.context_processors.csrf"]},
    }
]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGIN_REDIRECT_URL = "/whoami/"
LOGOUT_REDIRECT_URL = "/whoami/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

if os.environ.get("DJANGO_PG_NAME"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["DJANGO_PG_NAME"],
            "HOST": os.environ.get("DJANGO_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJANGO_PG_PORT", "5432"),
            "USER": os.environ.get("DJANGO_PG_USER", "postgres"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["DJANGO_SQLITE"],
        }
    }

SESSION_ENGINE = os.environ.get("DJANGO_SESSION_ENGINE", "django.contrib.sessions.backends.db")
if os.environ.get("DJANGO_REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ["DJANGO_REDIS_URL"],
            "KEY_PREFIX": os.environ.get("DJANGO_CACHE_PREFIX", ""),
            "OPTIONS": {"SERIALIZER": "django_redis.serializers.json.JSONSerializer"},
        }
    }

if os.environ.get("DJANGO_HASHING_ALGORITHM"):
    DEFAULT_HASHING_ALGORITHM = os.environ["DJANGO_HASHING_ALGORITHM"]
