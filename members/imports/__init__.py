"""Reading member lists that stores hand over (CSV or XLSX) and deciding what each row means.

``reading`` opens a file (encoding detected, headers in English or Korean), ``validation``
turns each row into clean values or plain-word reasons, ``matching`` finds the members the
rows name and ``writing`` writes member rows set-based. Nothing here moves points: the
orchestration that also books opening balances lives in :mod:`loyalty.services.imports`
(``members`` never imports ``loyalty``).
"""
