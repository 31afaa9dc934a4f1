# ASGI entry point, routed as the Channels tutorial routes its chat: WebSockets at
# /ws/chat/<room_name>/ behind the Origin check against ALLOWED_HOSTS (examples/chat does the
# same check; neither runs session or auth middleware on the socket).
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoref.settings")

from django.core.asgi import get_asgi_application

http_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from djangoref.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AllowedHostsOriginValidator(
            URLRouter([re_path(r"^ws/chat/(?P<room_name>[-\w.]+)/$", ChatConsumer.as_asgi())])
        ),
    }
)
