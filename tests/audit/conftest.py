"""An API client with a key, for the audit tests of API writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from loyalty.api.keys import api_key_create
from loyalty.models import ApiKey


class KeyClient:
    def __init__(self, plaintext: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.put(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def api_key(db: None) -> ApiKey:
    cache.clear()
    issued = api_key_create(name="Online shop (test)")
    issued.key.plaintext = issued.plaintext  # type: ignore[attr-defined]
    return issued.key


@pytest.fixture
def api_client(api_key: ApiKey) -> KeyClient:
    return KeyClient(api_key.plaintext)  # type: ignore[attr-defined]
