"""Staff users in their roles, for the admin tests."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.test import Client

PASSWORD = "role-test-password-9137"
MEMBERS_URL = "/admin/members/member/"


def staff(role: str | None, *, username: str | None = None, superuser: bool = False) -> User:
    """A staff user holding ``role`` (a group the roles migration created), or a superuser."""
    name = username or f"{role or 'super'}-user"
    if superuser:
        return User.objects.create_superuser(name, f"{name}@example.com", PASSWORD)
    user = User.objects.create_user(name, f"{name}@example.com", PASSWORD, is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_url(member_pk: int, action: str = "change") -> str:
    return f"{MEMBERS_URL}{member_pk}/{action}/"
