"""The Django side of the djangocompanion example: a Django project's settings plus the
channel layer it shares with the Go service.

The tests run the auth/django test project (its site_settings) with these settings and
CHANNEL_LAYER_URL naming the shared Redis; in a real project, add the two blocks below to
its own settings.
"""
import os

from site_settings import *  # noqa: F401,F403 (the existing project's settings)

INSTALLED_APPS = INSTALLED_APPS + ["notify"]  # noqa: F405 (the notify management command)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ["CHANNEL_LAYER_URL"]]},
    }
}
