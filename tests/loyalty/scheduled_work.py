"""Helpers for the scheduled-work tests: a private Redis broker, real Celery workers, eager mode.

No mock of Redis or PostgreSQL: a test that needs a broker starts its own ``redis-server`` on a
free port (never the machine's shared one) and stops it; a worker is a real ``celery worker``
subprocess on the test database (only transactional tests can share rows with it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
WORKER_APP = "tests.loyalty.worker_tasks"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of this test's own, on a free port, with nothing saved to disk."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.answers(), timeout=10, what="redis-server to answer")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=2)


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def broker_in_use(settings: Any, url: str, *, visibility_timeout: int = 5) -> Iterator[None]:
    """Point this process's Celery app (and the settings the outbox reads) at ``url``."""
    from config.settings import celery_transport_options

    options = celery_transport_options(visibility_timeout)
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options,
             celery_app.conf.task_always_eager)
    settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS = url, options
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = url, options
    celery_app.conf.task_always_eager = False
    _pools_forget()
    try:
        yield
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options, celery_app.conf.task_always_eager = saved
        _pools_forget()


def _pools_forget() -> None:
    """Drop the connection pools built for the previous broker URL."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def eager_tasks() -> Iterator[None]:
    """Tasks run in this process as they are sent (the chunk tasks of a fan-out included)."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def test_database_url() -> str:
    settings_dict = connection.settings_dict
    return (f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:"
            f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}")


@contextmanager
def eager_tasks_recording_failures() -> Iterator[None]:
    """Eager tasks whose failure is recorded (``on_failure``) and not raised, as on a worker:
    one chunk failing does not stop the orchestrator sending the others."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


class Worker:
    """``celery worker`` in a subprocess: the test database, the given broker, one task at a time."""

    def __init__(self, broker_url: str, name: str, *, visibility_timeout: int = 5) -> None:
        self.name = name
        env = {**os.environ, "DATABASE_URL": test_database_url(), "CELERY_BROKER_URL": broker_url,
               "DANGOL_CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout), "PYTHONPATH": str(ROOT),
               "CELERY_TASK_ALWAYS_EAGER": "0"}
        env.pop("REDIS_URL", None)
        self.log = ROOT / "var" / f"test-worker-{name}-{os.getpid()}.log"
        self.log.parent.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", WORKER_APP, "worker", "--pool=solo", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"],
            cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """``kill -9``: no cleanup, no acknowledgement, the connection just drops."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
