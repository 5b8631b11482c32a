"""The loyalty admin, one module per area; importing them registers their ModelAdmins.

``records`` (read-only ledger lists), ``programme`` (earning rules, policy), ``adjustments``
(maker-checker), ``api_keys`` and ``members`` (the member page, which shows points).
"""

from . import adjustments, api_keys, members, programme, records  # noqa: F401
