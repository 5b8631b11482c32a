"""Text in spreadsheets that never turns into a formula, and comes back exactly as it was.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by spreadsheet programs (CSV injection: ``=HYPERLINK(…)`` in a member's name). In a CSV
such text is written with a leading apostrophe, which makes Excel and LibreOffice open it as
text. To keep the round trip exact, text that already starts with apostrophes followed by one
of those characters gets one more; reading a file takes exactly one away from such text.
Numbers are never touched: a negative number stays a number. In XLSX, cells are typed, so
text is stored as a string cell and needs no apostrophe.
"""

from __future__ import annotations

import re

_NEEDS_QUOTE = re.compile(r"^'*[=+\-@\t\r]")
_QUOTED = re.compile(r"^'+[=+\-@\t\r]")


def formula_escape(text: str) -> str:
    """Text as written to a CSV cell: an apostrophe in front when a spreadsheet would compute it."""
    return "'" + text if _NEEDS_QUOTE.match(text) else text


def formula_unescape(text: str) -> str:
    """The original text of a cell :func:`formula_escape` wrote (other text is returned as is)."""
    return text[1:] if _QUOTED.match(text) else text
