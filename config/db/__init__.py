"""Database infrastructure, apart from the domain: it knows no table of the project.

- ``postgresql/``: Django's PostgreSQL backend with a health check that polls the socket
  instead of sending ``SELECT 1`` before each request's first query;
- :mod:`config.db.prepared`: rows of a hand-written statement, planned once per connection,
  and model instances built from raw rows as the ORM would build them;
- :mod:`config.db.batch`: new and changed rows of several models, written in one round trip;
- :mod:`config.db.constraints`: which constraint an ``IntegrityError`` names.

What is written where is decided by the apps (the ledger: :mod:`loyalty.ledger`); this package
only knows how to send it.
"""
