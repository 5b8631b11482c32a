"""``manage.py create_api_key NAME [--scope S ...] [--store CODE]``: prints the key alone, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from loyalty.api.keys import api_key_create
from loyalty.models import ApiScope
from members.models import Store


class Command(BaseCommand):
    help = "Create an API key and print it on stdout (only a hash is stored; it is never shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--scope", action="append", choices=ApiScope.values, dest="scopes",
                            help="Repeat for several; none means all scopes.")
        parser.add_argument("--store", help="Bind the key to one store (a POS key).")
        parser.add_argument("--origin", action="append", dest="origins", default=[],
                            help="An allowed CORS origin for the balance widget, e.g. https://shop.example.com")

    def handle(self, *args: Any, **options: Any) -> None:
        store = None
        if options["store"]:
            store = Store.objects.filter(code=options["store"]).first()
            if store is None:
                raise CommandError(f"Unknown store {options['store']!r}.")
        issued = api_key_create(name=options["name"], scopes=options["scopes"], store=store,
                                allowed_origins=options["origins"])
        self.stdout.write(issued.plaintext)
