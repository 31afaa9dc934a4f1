"""manage.py notify USERNAME TEXT: sends a notification to every socket of USERNAME on the
Go service, through the shared channel layer (the group "user.<id>")."""
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Send a notification to a user's live feed on the Go service."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("text")

    def handle(self, username, text, **options):
        user = get_user_model().objects.get(username=username)
        async_to_sync(get_channel_layer().group_send)(
            f"user.{user.pk}", {"type": "notify", "event": {"text": text}}
        )
