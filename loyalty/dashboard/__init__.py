"""The admin dashboard's figures, kept fast at ten million ledger entries.

``totals`` writes the aggregates (a scheduled task: daily points per entry kind, and a snapshot
of the figures that need a scan of the members); ``figures`` reads them for the page, adding
the ledger's entries recorded since, so the points figures are exact; ``chart`` lays out the
server-drawn SVG charts.
"""
