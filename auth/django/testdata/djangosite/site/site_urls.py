from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_POST


def whoami(request):
    u = request.user
    return JsonResponse({"username": u.get_username() if u.is_authenticated else ""})


@require_POST
def expire(request):
    """Expires the session now (as set_expiry with a past age does)."""
    request.session.set_expiry(-1)
    return JsonResponse({"ok": True})


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("whoami/", whoami),
    path("expire/", expire),
]
