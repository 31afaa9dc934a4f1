# Settings of the reference Django Channels chat server that chatload measures next to
# examples/chat (chatload -server django). Production-like: DEBUG off, no database, no
# middleware the chat does not need. The layer comes from DJANGOREF_LAYER: "memory" or a
# redis:// URL (channels_redis's RedisChannelLayer with its default capacity and expiry).
import os

DEBUG = False
SECRET_KEY = "chatload-reference-only"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE = []
ROOT_URLCONF = "djangoref.urls"
DATABASES = {}
USE_TZ = True
ASGI_APPLICATION = "djangoref.asgi.application"

_layer = os.environ.get("DJANGOREF_LAYER", "memory")
if _layer == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_layer]},
        }
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
