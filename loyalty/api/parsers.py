"""The API's JSON parser: DRF's, with the failures a hostile body can cause turned into 400s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """``{"a": [[[[…]]]]}`` nested 100,000 deep makes ``json.loads`` raise ``RecursionError``,
    which DRF does not catch (it catches ``ValueError``): a 500 and a traceback per request.
    It is a malformed request like any other."""

    def parse(self, stream: IO[Any], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
