"""The loyalty admin, one module per area; importing them registers their ModelAdmins.

``records`` (read-only ledger lists), ``programme`` (earning rules, policy), ``adjustments``
(maker-checker), ``api_keys``, ``members`` (the member page, which shows points), ``imports``
(member files: upload, preview, progress), ``exports`` (members and ledger entries as CSV/XLSX)
and ``scheduled`` (task runs and chunks, the outbox, notices sent).
"""

from . import adjustments, api_keys, exports, imports, members, programme, records, scheduled  # noqa: F401
