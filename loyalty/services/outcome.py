from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What a service did: the result body, and whether this call did it (false on a replay)."""

    data: dict[str, Any]
    created: bool
