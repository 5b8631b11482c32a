"""WSGI entry point for gunicorn or runserver.

It marks the process as a web process before the settings load, so that its database
connections get a statement timeout (``DB_STATEMENT_TIMEOUT_MS``): a request must not wait
long on a database that does not answer, while Celery workers and management commands,
which never import this module, run long statements on purpose.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DANGOL_WEB_PROCESS"] = "1"

application = get_wsgi_application()
