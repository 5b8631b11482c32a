"""``manage.py ensure_admin``: a superuser ``admin`` to log in with after ``make run``.

The password comes from ``DANGOL_ADMIN_PASSWORD`` or, failing that, is generated once and kept
in ``var/admin-password.txt`` (readable by its owner only), so every later run prints the same
one. An existing ``admin`` keeps its password unless ``DANGOL_ADMIN_PASSWORD`` is set, so a
password changed in the admin is not silently overwritten.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

USERNAME = "admin"


def password_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-password.txt"


def stored_or_new_password() -> str:
    path = password_file()
    if path.exists():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return password


class Command(BaseCommand):
    help = "Create the superuser 'admin' if it is missing and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Port the web server listens on (default 8000).")

    def handle(self, *args: Any, **options: Any) -> None:
        from_env = os.environ.get("DANGOL_ADMIN_PASSWORD", "")
        user_model = get_user_model()
        user = user_model.objects.filter(username=USERNAME).first()
        if user is None:
            password = from_env or stored_or_new_password()
            user_model.objects.create_superuser(username=USERNAME, email="", password=password)
        elif from_env:
            password = from_env
            if not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
        elif password_file().exists():
            password = stored_or_new_password()
            if not user.check_password(password):
                password = "(changed since; not the one in var/admin-password.txt)"
        else:
            password = "(set earlier; unchanged)"
        self.stdout.write(
            f"Admin: http://127.0.0.1:{options['port']}/admin/  login: {USERNAME}  password: {password}"
        )
