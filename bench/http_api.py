"""HTTP throughput and latency of the API under gunicorn, against the bench database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench .venv/bin/python bench/http_api.py \
        [--duration 10] [--rounds 3] [--connections 6] [--workers 3] [--threads 1]

Starts gunicorn (config.wsgi with bench/settings_bench.py, which only adds ``bench/bare/``)
on 127.0.0.1 and a free port, DEBUG off, persistent DB connections, creates an API key with
``loyalty.api.keys.api_key_create``, then drives, one after the other, with ``wrk`` (apt
package ``wrk``; a bounded Python keep-alive client when it is missing):

* ``GET  /bench/bare/``                       — a DRF view returning a constant body (baseline);
* ``GET  /api/v1/members/{id}/balance``       — random seeded members;
* ``POST /api/v1/purchases``                  — unique order ids, random members.

Each run is bounded in time (``--duration``) and, for the Python client, in count too.
The server is stopped at the end. Only 127.0.0.1 is contacted.

The key's rate limit: ``ApiKey.throttle_rate`` defaults to 1200/min, which would cap a
benchmark at 20 req/s per worker process (the throttle's cache is per-process memory when
REDIS_URL is unset), so the bench key gets ``--throttle-rate`` (default 100000/s, a one-second
window keeps the throttle's history list as short as under the default rate). The throttle
still runs on every request.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import django_on_bench_db, seeded_members  # noqa: E402

TARGETS = {"balance": 0.50, "purchase": 0.25}

WRK_COMMON = r"""
local members = %(members)d
local nonce = "%(nonce)s"
local threads = {}
local counter = 0
wrk.headers["Authorization"] = "Api-Key %(key)s"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

function init(args)
   math.randomseed(os.time() + tid * 7919)
end

local function member()
   return string.format("M%%09d", math.random(1, members))
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
      '"mean_us":%%.1f,"status_errors":%%d,"socket_errors":%%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, e.status,
      e.connect + e.read + e.write + e.timeout))
end
"""

WRK_REQUEST = {  # appended as is (not %-formatted)
    "bare": r"""
request = function() return wrk.format("GET", "/bench/bare/") end
""",
    "one_query": r"""
request = function() return wrk.format("GET", "/bench/one-query/" .. member()) end
""",
    "balance": r"""
request = function() return wrk.format("GET", "/api/v1/members/" .. member() .. "/balance") end
""",
    "purchase": r"""
request = function()
   counter = counter + 1
   local body = string.format(
      '{"external_id":"%s","order_id":"H-%s-%d-%d","amount":"45000","channel":"online",' ..
      '"items":[{"sku":"TEA-01","category":"tea","amount":"45000","quantity":1}]}',
      member(), nonce, tid, counter)
   return wrk.format("POST", "/api/v1/purchases", nil, body)
end
""",
}

ENDPOINTS = {
    "bare": "GET /bench/bare/",
    "one_query": "GET /bench/one-query/{id} (Django, 1 query)",
    "balance": "GET /api/v1/members/{id}/balance",
    "purchase": "POST /api/v1/purchases",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def key_create(rate: str) -> tuple[int, str]:
    from loyalty.api.keys import api_key_create
    from loyalty.models import ApiKey

    issued = api_key_create(name=f"bench-http-{time.strftime('%Y%m%d-%H%M%S')}")
    ApiKey.objects.filter(pk=issued.key.pk).update(throttle_rate=rate)
    return issued.key.pk, issued.plaintext


def key_revoke(pk: int) -> None:
    from loyalty.api.keys import api_key_revoke
    from loyalty.models import ApiKey

    api_key_revoke(ApiKey.objects.get(pk=pk))


def server_start(args: argparse.Namespace, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings_bench",
        "DJANGO_DEBUG": "0",
        "DB_CONN_MAX_AGE": "600",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    env.pop("DJANGO_ENV", None)  # development defaults, DEBUG forced off above
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
        "--worker-class", "gthread" if args.threads > 1 else "sync", "--threads", str(args.threads),
        "--keep-alive", "30", "--log-level", "warning",
    ]
    log = log_path.open("wb")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/bare/", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server_stop(server)
    sys.exit(f"gunicorn did not answer within 30 s; see {log_path}")


def server_stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # its own session: gunicorn's master and workers only
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def smoke(port: int, key: str, members: int) -> None:
    """One request per endpoint, so a broken setup fails loudly before the timed runs."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    checks = [
        ("GET", "/bench/bare/", None, 200),
        ("GET", f"/api/v1/members/M{random.randint(1, members):09d}/balance", None, 200),
        ("POST", "/api/v1/purchases", json.dumps({
            "external_id": f"M{random.randint(1, members):09d}", "order_id": f"H-smoke-{uuid.uuid4().hex}",
            "amount": "45000", "channel": "online"}), 201),
    ]
    for method, path, body, expected in checks:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read()
        if response.status != expected:
            sys.exit(f"{method} {path}: {response.status} (expected {expected}): {text[:300]!r}")
        if path.endswith("/balance"):
            print(f"  sample balance body: {text.decode()[:300]}")
    conn.close()


def run_wrk(name: str, port: int, key: str, members: int, args: argparse.Namespace, workdir: Path,
            duration: float) -> dict[str, float]:
    script = workdir / f"{name}.lua"
    script.write_text(WRK_COMMON % {"members": members, "nonce": uuid.uuid4().hex[:12], "key": key}
                      + WRK_REQUEST[name])
    command = ["wrk", "-t", str(min(args.connections, 2)), "-c", str(args.connections),
               "-d", f"{int(duration)}s", "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True)
    line = next((line for line in result.stdout.splitlines() if line.startswith("WRKJSON ")), None)
    if line is None:
        sys.exit(f"wrk gave no summary:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line[len("WRKJSON "):])
    seconds = data["duration_us"] / 1e6
    return {
        "requests": data["requests"], "rps": data["requests"] / seconds,
        "p50": data["p50_us"] / 1000, "p90": data["p90_us"] / 1000, "p99": data["p99_us"] / 1000,
        "errors": data["status_errors"] + data["socket_errors"],
    }


def run_python(name: str, port: int, key: str, members: int, args: argparse.Namespace,
               duration: float) -> dict[str, float]:
    """Fallback load generator: N threads, keep-alive connections, bounded by time and count."""
    nonce = uuid.uuid4().hex[:12]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration
    per_thread_cap = args.max_requests // args.connections

    def worker(tid: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        mine: list[float] = []
        bad = 0
        for count in range(per_thread_cap):
            if time.perf_counter() >= stop_at:
                break
            member = f"M{random.randint(1, members):09d}"
            if name == "bare":
                method, path, body = "GET", "/bench/bare/", None
            elif name == "one_query":
                method, path, body = "GET", f"/bench/one-query/{member}", None
            elif name == "balance":
                method, path, body = "GET", f"/api/v1/members/{member}/balance", None
            else:
                method, path = "POST", "/api/v1/purchases"
                body = json.dumps({"external_id": member, "order_id": f"H-{nonce}-{tid}-{count}",
                                   "amount": "45000", "channel": "online"})
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                ok = False
            mine.append(time.perf_counter() - started)
            bad += not ok
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": q[49] * 1000,
            "p90": q[89] * 1000, "p99": q[98] * 1000, "errors": errors[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint (plus a warm-up)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of untimed load per endpoint first")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all endpoints; figures are medians")
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="gthread threads per worker (1: sync workers)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap for the Python client")
    parser.add_argument("--throttle-rate", default="100000/s")
    parser.add_argument("--only", choices=sorted(ENDPOINTS), action="append", help="run only these endpoints")
    parser.add_argument("--python-client", action="store_true", help="use the Python client even if wrk exists")
    args = parser.parse_args()
    django_on_bench_db()
    members = seeded_members()
    key_id, key = key_create(args.throttle_rate)
    from django.db import connection

    connection.close()  # the server's connections only, from here on
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="dangol-bench-"))
    log_path = workdir / "gunicorn.log"
    print(f"gunicorn config.wsgi on 127.0.0.1:{port}: {args.workers} workers × "
          f"{args.threads} {'gthread threads' if args.threads > 1 else '(sync)'}; DEBUG off, CONN_MAX_AGE=600")
    print(f"load: {'wrk' if use_wrk else 'python http.client'}, {args.connections} connections, "
          f"{args.warmup:g}s warm-up + {args.duration:g}s per endpoint; {members:,} seeded members")
    server = server_start(args, port, log_path)
    rounds: dict[str, list[dict[str, float]]] = {}
    try:
        smoke(port, key, members)
        names = args.only or list(ENDPOINTS)
        if "bare" not in names:
            names = ["bare", *names]  # every round measures its own baseline
        for round_no in range(args.rounds):
            for name in names:
                for phase, seconds in (("warm-up", args.warmup if round_no == 0 else 1.0), ("timed", args.duration)):
                    if seconds <= 0:
                        continue
                    if use_wrk:
                        figures = run_wrk(name, port, key, members, args, workdir, max(seconds, 1))
                    else:
                        figures = run_python(name, port, key, members, args, seconds)
                    if phase == "timed":
                        rounds.setdefault(name, []).append(figures)
    finally:
        server_stop(server)
        key_revoke(key_id)
    problems = "\n".join(  # WhiteNoise warns once per worker that var/static is not collected: not a problem
        line for line in log_path.read_text(errors="replace").splitlines()
        if line.strip() and "No directory at" not in line and "mw_instance = middleware" not in line
    )

    # Each round runs every endpoint back to back, the baseline first, so a ratio compares
    # figures taken a few seconds apart; the medians over rounds shrug off a noisy neighbour.
    results = {name: {field: statistics.median(r[field] for r in runs) for field in runs[0]}
               for name, runs in rounds.items()}
    ratios = {name: [run["rps"] / base["rps"] for run, base in zip(runs, rounds["bare"], strict=True)]
              for name, runs in rounds.items()}
    print()
    header = f"{'endpoint':<44} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} " \
             f"{'errors':>6} {'vs bare':>8} {'target':>9}"
    print(f"medians over {args.rounds} round(s) of {args.duration:g}s per endpoint")
    print(header)
    print("-" * len(header))
    for name, figures in results.items():
        ratio = statistics.median(ratios[name])
        target = TARGETS.get(name)
        verdict = "" if target is None else ("ok" if ratio >= target else "MISS")
        target_text = f"≥{target:.0%} {verdict}" if target else ""
        print(f"{ENDPOINTS[name]:<44} {int(figures['requests']):>9,} {figures['rps']:>8.1f} "
              f"{figures['p50']:>8.2f} {figures['p90']:>8.2f} {figures['p99']:>8.2f} {int(figures['errors']):>6} "
              f"{ratio:>8.0%} {target_text:>9}")
    if args.rounds > 1:
        print("\nratio to the bare view, round by round:")
        for name, values in ratios.items():
            if name != "bare":
                print(f"  {name:<10} " + "  ".join(f"{value:.0%}" for value in values))
    if problems:
        print(f"\ngunicorn log ({log_path}), last lines:")
        print("\n".join(problems.splitlines()[-15:]))
    shutil.rmtree(workdir, ignore_errors=True) if not problems else None


if __name__ == "__main__":
    main()
