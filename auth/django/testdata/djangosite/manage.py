#!/usr/bin/env python3
"""The Django project the auth/django tests log users in with (settings from the environment)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "site"))
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
