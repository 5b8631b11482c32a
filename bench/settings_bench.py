"""The project's settings, with a bench-only URLconf that adds ``bench/bare/`` (a constant DRF view).

Everything else, middleware included, is exactly config.settings as the environment sets it.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls_bench"
