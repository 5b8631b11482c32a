"""The loyalty admin, one module per area; importing them registers their ModelAdmins.

``records`` (read-only ledger lists), ``programme`` (earning rules, policy), ``adjustments``
(maker-checker), ``api_keys``, ``members`` (the member page, which shows points), ``imports``
(member files: upload, preview, progress) and ``exports`` (members and ledger entries as CSV/XLSX).
"""

from . import adjustments, api_keys, exports, imports, members, programme, records  # noqa: F401
