# No HTTP pages: chatload only opens WebSockets.
urlpatterns = []
