"""HTTP throughput and latency of the API under gunicorn, against the bench database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench .venv/bin/python bench/http_api.py \
        [--duration 10] [--rounds 3] [--connections 6] [--workers 3] [--threads 1]

Starts gunicorn (config.wsgi with bench/settings_bench.py, which only adds ``bench/bare/``)
on 127.0.0.1 and a free port, DEBUG off, persistent DB connections, creates an API key with
``loyalty.api.keys.api_key_create``, then drives, one after the other, with ``wrk`` (apt
package ``wrk``; a bounded Python keep-alive client when it is missing):

* ``GET  /bench/bare/``                 — a DRF view returning a constant body (baseline);
* ``GET  /bench/one-query/{id}``         — plain Django, one indexed query: the floor for any
  endpoint that reads the database, and what the targets are ratios to;
* every endpoint of the contract (``../shared/API.md``), with valid load: random seeded
  members for the reads, unique order, refund and activity ids for the writes, redemptions
  only by members who hold enough points, refunds of this run's purchases and cancellations of
  this run's redemptions (their lists are read from the database before each run).

Each write run counts the rows that did the work (purchases, refunds, redemptions, cancelled
redemptions, paying activities, members updated) and prints them as "did work": a 2xx replay
or a refusal is no work, so a run that answers fast without writing shows here.

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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import django_on_bench_db, seeded_members  # noqa: E402

# Per-request targets, as ratios to the one-query view of the same round (DESIGN.md, issue 7).
TARGETS = {"balance": 0.85, "purchase": 0.25, "refund": 0.20, "redemption": 0.20, "cancel": 0.20,
           "activity": 0.20, "member_put": 0.20}

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

local function pick(list)
   -- thread tid takes list entries tid, tid + threads, ...: no two requests share one
   counter = counter + 1
   local index = ((counter - 1) * %(threads)d + tid - 1) %% #list + 1
   return list[index]
end
%(lists)s

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
    "member_get": r"""
request = function() return wrk.format("GET", "/api/v1/members/" .. member()) end
""",
    "lookup": r"""
request = function()
   local n = math.random(1, members)
   return wrk.format("GET", string.format("/api/v1/members?phone=010%08d", (n * 7919) % 100000000))
end
""",
    "transactions": r"""
request = function()
   return wrk.format("GET", "/api/v1/members/" .. member() .. "/transactions?page_size=20")
end
""",
    "widget_token": r"""
request = function()
   return wrk.format("POST", "/api/v1/widget-tokens", nil, '{"external_id":"' .. member() .. '"}')
end
""",
    "widget_balance": r"""
request = function()
   local headers = {["Authorization"] = "Bearer " .. pick(tokens)}
   return wrk.format("GET", "/api/v1/widget/balance", headers)
end
""",
    "member_put": r"""
request = function()
   counter = counter + 1
   local body = string.format('{"name":"Bench put %s-%d-%d","marketing_consent":{"sms":true}}', nonce, tid, counter)
   return wrk.format("PUT", "/api/v1/members/" .. member(), nil, body)
end
""",
    "redemption": r"""
request = function()
   local who = pick(holders)
   local body = string.format(
      '{"external_id":"%s","points":1000,"order_id":"R-%s-%d-%d","order_amount":"100000"}',
      who, nonce, tid, counter)
   return wrk.format("POST", "/api/v1/redemptions", nil, body)
end
""",
    "cancel": r"""
request = function()
   return wrk.format("POST", "/api/v1/redemptions/" .. pick(redemptions) .. "/cancel", nil, "")
end
""",
    "refund": r"""
request = function()
   local order = pick(orders)
   local body = string.format('{"refund_id":"F-%s-%d-%d","amount":"45000"}', nonce, tid, counter)
   return wrk.format("POST", "/api/v1/purchases/" .. order .. "/refunds", nil, body)
end
""",
    "activity": r"""
request = function()
   counter = counter + 1
   local body = string.format('{"external_id":"%s","type":"review","reference":"A-%s-%d-%d"}',
      member(), nonce, tid, counter)
   return wrk.format("POST", "/api/v1/activities", nil, body)
end
""",
}

ENDPOINTS = {
    "bare": "GET /bench/bare/",
    "one_query": "GET /bench/one-query/{id} (Django, 1 query)",
    "balance": "GET /api/v1/members/{id}/balance",
    "member_get": "GET /api/v1/members/{id}",
    "lookup": "GET /api/v1/members?phone=",
    "transactions": "GET /api/v1/members/{id}/transactions",
    "widget_token": "POST /api/v1/widget-tokens",
    "widget_balance": "GET /api/v1/widget/balance",
    "purchase": "POST /api/v1/purchases",
    "refund": "POST /api/v1/purchases/{id}/refunds",
    "redemption": "POST /api/v1/redemptions",
    "cancel": "POST /api/v1/redemptions/{id}/cancel",
    "activity": "POST /api/v1/activities",
    "member_put": "PUT /api/v1/members/{id}",
}
WRITES = ("purchase", "refund", "redemption", "cancel", "activity", "member_put")


def lua_list(name: str, values: list[Any]) -> str:
    return f"local {name} = {{" + ",".join(json.dumps(str(v)) for v in values) + "}\n"


def holders(members: int, count: int = 40_000) -> list[str]:
    """Seeded members who can spend 1,000 P a few times over (sampled, checked on their lots)."""
    from django.db import connection

    sample = [f"M{n:09d}" for n in random.sample(range(1, members + 1), min(count * 2, members))]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.external_id FROM members_member m JOIN loyalty_account a ON a.member_id = m.id "
            "JOIN loyalty_lot l ON l.account_id = a.id WHERE m.external_id = ANY(%s) AND l.remaining > 0 "
            "AND l.available_on <= CURRENT_DATE AND (l.expires_on IS NULL OR l.expires_on > CURRENT_DATE) "
            "GROUP BY m.external_id, a.debt HAVING SUM(l.remaining) - a.debt >= 5000", [sample])
        found = [row[0] for row in cursor.fetchall()]
    random.shuffle(found)
    return found[:count]


def lists_for(name: str, nonce: str, holders_: list[str], key_id: int, members: int) -> str:
    """The Lua tables a run needs: what this run's earlier writes left to refund or cancel."""
    from django.db import connection

    if name == "redemption":
        return lua_list("holders", holders_)
    if name == "widget_balance":
        from loyalty.api.keys import widget_token_issue
        from loyalty.models import ApiKey

        key = ApiKey.objects.get(pk=key_id)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM members_member WHERE external_id = ANY(%s)",
                           [[f"M{n:09d}" for n in random.sample(range(1, members + 1), 500)]])
            ids = [row[0] for row in cursor.fetchall()]
        return lua_list("tokens", [widget_token_issue(member_id=pk, key=key)[0] for pk in ids])
    with connection.cursor() as cursor:
        if name == "refund":
            cursor.execute("SELECT order_id FROM loyalty_purchase WHERE id > %s AND order_id LIKE %s "
                           "AND refunded_amount = 0 ORDER BY id", [MARKS.get("purchase_floor", 0), f"H-{nonce}x%"])
            return lua_list("orders", [row[0] for row in cursor.fetchall()] or ["none"])
        if name == "cancel":
            cursor.execute("SELECT id FROM loyalty_redemption WHERE id > %s AND order_id LIKE %s "
                           "AND status = 'active' ORDER BY id", [MARKS.get("redemption_floor", 0), f"R-{nonce}x%"])
            return lua_list("redemptions", [row[0] for row in cursor.fetchall()] or [0])
    return ""


MARKS: dict[str, int] = {}


def work_mark() -> dict[str, Any]:
    """Where each written table stands now (ids only grow), to count what a timed run wrote."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM loyalty_purchase), (SELECT COALESCE(MAX(id), 0) FROM "
            "loyalty_refund), (SELECT COALESCE(MAX(id), 0) FROM loyalty_redemption), (SELECT COALESCE(MAX(id), 0) "
            "FROM loyalty_operation), (SELECT COALESCE(MAX(id), 0) FROM loyalty_activity), now()")
        row = cursor.fetchone()
    return dict(zip(("purchase", "refund", "redemption", "operation", "activity", "now"), row, strict=True))


def work_done(name: str, mark: dict[str, Any], nonce: str) -> int | None:
    """Rows that did the work since ``mark`` (None for reads)."""
    from django.db import connection

    queries = {
        "purchase": ("SELECT COUNT(*) FROM loyalty_purchase WHERE id > %s", [mark["purchase"]]),
        "refund": ("SELECT COUNT(*) FROM loyalty_refund WHERE id > %s", [mark["refund"]]),
        "redemption": ("SELECT COUNT(*) FROM loyalty_redemption WHERE id > %s", [mark["redemption"]]),
        "cancel": ("SELECT COUNT(*) FROM loyalty_redemption WHERE cancel_operation_id > %s", [mark["operation"]]),
        "activity": ("SELECT COUNT(*) FROM loyalty_activity WHERE id > %s AND points > 0", [mark["activity"]]),
        "member_put": ("SELECT COUNT(*) FROM members_member WHERE name LIKE %s AND updated_at >= %s",
                       [f"Bench put {nonce}x%", mark["now"]]),
    }
    if name not in queries:
        return None
    sql, params = queries[name]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


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
        ("GET", f"/api/v1/members/M{random.randint(1, members):09d}", None, 200),
        ("GET", f"/api/v1/members?phone=010{(7919 * 7) % 100000000:08d}", None, 200),
        ("GET", f"/api/v1/members/M{random.randint(1, members):09d}/transactions?page_size=20", None, 200),
        ("POST", "/api/v1/activities", json.dumps({
            "external_id": f"M{random.randint(1, members):09d}", "type": "review",
            "reference": f"A-smoke-{uuid.uuid4().hex}"}), 201),
        ("PUT", f"/api/v1/members/M{random.randint(1, members):09d}", json.dumps({"name": "Bench smoke"}), 200),
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
            duration: float, nonce: str, lists: str) -> dict[str, float]:
    script = workdir / f"{name}.lua"
    threads = min(args.connections, 2)
    script.write_text(WRK_COMMON % {"members": members, "nonce": nonce, "key": key, "threads": threads,
                                    "lists": lists} + WRK_REQUEST[name])
    command = ["wrk", "-t", str(threads), "-c", str(args.connections),
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
    """Fallback load generator for the first four endpoints: N threads, keep-alive connections,
    bounded by time and count (the other endpoints need ``wrk``)."""
    if name not in ("bare", "one_query", "balance", "purchase"):
        sys.exit(f"{name} needs wrk (apt package wrk)")
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
    nonce = uuid.uuid4().hex[:12]
    try:
        smoke(port, key, members)
        names = args.only or list(ENDPOINTS)
        names = [n for n in ("bare", "one_query") if n not in names] + names  # every round: its own baselines
        can_spend = holders(members) if "redemption" in names else []
        mark = work_mark()
        MARKS["purchase_floor"], MARKS["redemption_floor"] = mark["purchase"], mark["redemption"]
        runs = 0
        for round_no in range(args.rounds):
            for name in names:
                for phase, seconds in (("warm-up", args.warmup if round_no == 0 else 1.0), ("timed", args.duration)):
                    if seconds <= 0:
                        continue
                    lists = lists_for(name, nonce, can_spend, key_id, members)
                    mark = work_mark()
                    connection.close()
                    runs += 1  # ids of each run are its own: counters restart with every wrk run
                    if use_wrk:
                        figures = run_wrk(name, port, key, members, args, workdir, max(seconds, 1),
                                          f"{nonce}x{runs}", lists)
                    else:
                        figures = run_python(name, port, key, members, args, seconds)
                    done = work_done(name, mark, nonce)
                    if done is not None:
                        figures["done"] = done / max(figures["requests"], 1)
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
    to_one = {name: [run["rps"] / base["rps"] for run, base in zip(runs, rounds["one_query"], strict=True)]
              for name, runs in rounds.items()}
    print()
    header = f"{'endpoint':<40} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} " \
             f"{'errors':>6} {'did work':>8} {'vs bare':>7} {'vs 1-q':>7} {'target':>9}"
    print(f"medians over {args.rounds} round(s) of {args.duration:g}s per endpoint")
    print(header)
    print("-" * len(header))
    for name, figures in results.items():
        ratio = statistics.median(to_one[name])
        target = TARGETS.get(name)
        verdict = "" if target is None else ("ok" if ratio >= target else "MISS")
        target_text = f"≥{target:.0%} {verdict}" if target else ""
        done = f"{figures['done']:.0%}" if "done" in figures else ""
        print(f"{ENDPOINTS[name]:<40} {int(figures['requests']):>9,} {figures['rps']:>8.1f} "
              f"{figures['p50']:>7.2f} {figures['p99']:>7.2f} {int(figures['errors']):>6} {done:>8} "
              f"{statistics.median(ratios[name]):>7.0%} {ratio:>7.0%} {target_text:>9}")
    if args.rounds > 1:
        print("\nratio to the one-query view, round by round:")
        for name, values in to_one.items():
            if name not in ("bare", "one_query"):
                print(f"  {name:<14} " + "  ".join(f"{value:.0%}" for value in values))
    if problems:
        print(f"\ngunicorn log ({log_path}), last lines:")
        print("\n".join(problems.splitlines()[-15:]))
    shutil.rmtree(workdir, ignore_errors=True) if not problems else None


if __name__ == "__main__":
    main()
