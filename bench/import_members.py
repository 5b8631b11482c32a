"""A million-member CSV imported on the bench copy, beside PostgreSQL's own COPY of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench_<you> .venv/bin/python bench/import_members.py \
        [--rows 1000000] [--chunk 5000] [--audit]

1. Migrates the bench copy and makes sure the five bench stores exist (an import refuses unknown stores).
2. Writes a CSV of ``--rows`` new members (English headers; phones ``011…``, which the seed never uses,
   so every row creates a member; 60 % carry opening points) once, under ``/tmp``.
3. **import**: in a child process of its own (so its peak RSS is the import's), uploads the file as an
   import job and runs ``member_import_run`` on it, the code the Celery task runs: streamed, chunk by chunk,
   each chunk's members, accounts, tier history and opening balances (operation, lot, two entries,
   account) in one transaction. Prints rows/s and ``ru_maxrss``.
4. **COPY**, back to back, in a second child: the same rows (normalized as the import writes them), first
   the member rows alone into ``members_member``, then every row the import wrote into the same tables
   (members, accounts, tier changes, operations, lots, ledger entries), with all their indexes and
   triggers in place; each in a transaction that is rolled back. The COPY input files are prepared
   before the clock starts, so COPY is timed alone. The foreign keys are deferred to the commit,
   which a rollback never reaches: a third COPY of every table runs with ``SET CONSTRAINTS ALL
   IMMEDIATE``, so it pays the key checks the import's commits pay.

``--audit`` runs ``loyalty.invariants.violations()`` after the import (a few minutes at 10 M entries).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import django_on_bench_db  # noqa: E402

STORES = ("BNCH01", "BNCH02", "BNCH03", "BNCH04", "BNCH05")
HEADER = ["external_id", "name", "phone", "email", "birthday", "store_code", "opening_points"]
POINTS = (0, 0, 500, 1200, 3000, 15000, 0, 800, 2000, 100)  # 30 % zero... see opening share below


def generate(path: Path, rows: int, prefix: str, phones_from: int = 0) -> None:
    """Rows the way a store writes them: mixed phone and date notations, some blank e-mails.

    Phones are ``011`` numbers from ``phones_from`` on: each run takes a block no earlier run used.
    """
    rng = random.Random(11)
    surnames, given = "김이박최정강조윤장임", "민서지현우진하은수영도경"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            digits = f"{phones_from + n:08d}"
            phone = rng.choice((f"011-{digits[:4]}-{digits[4:]}", f"011{digits}", f"+82 11-{digits[:4]}-{digits[4:]}"))
            born = date(1960, 1, 1) + timedelta(days=rng.randrange(16000))
            birthday = rng.choice((born.isoformat(), born.strftime("%Y%m%d"), f"{born.year}.{born.month}.{born.day}"))
            points = rng.choice(POINTS) if rng.random() < 0.75 else 0
            writer.writerow([f"{prefix}{n:07d}", rng.choice(surnames) + rng.choice(given) + rng.choice(given),
                             phone, "" if n % 3 == 0 else f"imp{n}@bench.example", birthday, STORES[n % 5],
                             points])


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_import(csv_path: Path, chunk: int, audit: bool) -> dict[str, Any]:
    from loyalty.invariants import violations
    from loyalty.services.imports import member_import_run, member_import_upload

    with csv_path.open("rb") as handle:
        job = member_import_upload(file=handle, file_name=csv_path.name)
    before = rss_mb()
    started = time.perf_counter()
    tally = member_import_run(job.pk, chunk_rows=chunk)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"rows": tally.processed_rows, "seconds": round(seconds, 1),
                              "rows_per_s": round(tally.processed_rows / seconds), "rss_mb_before": round(before),
                              "rss_mb_peak": round(rss_mb()), **tally.counts()}
    if audit:
        started = time.perf_counter()
        result["violations"] = len(violations())
        result["audit_seconds"] = round(time.perf_counter() - started, 1)
    return result


def phase_copy(csv_path: Path) -> dict[str, Any]:
    """COPY the same rows, normalized as the import writes them, into the same tables; rolled back."""
    from django.db import connection
    from django.utils import timezone

    from loyalty.ledger import opening_fingerprint, system_account_id
    from loyalty.models import SystemAccount
    from members.imports.validation import birthday_parse
    from members.imports.writing import base_tier_id
    from members.phone import normalize_phone

    now = timezone.now().isoformat()
    today = timezone.localdate()
    expires = (today + timedelta(days=365)).isoformat()
    tier_id = base_tier_id()
    imported_account = system_account_id(SystemAccount.IMPORTED)
    stores = dict(connection.cursor().execute("SELECT code, id FROM members_store").fetchall())  # type: ignore[union-attr]
    ids = {}
    with connection.cursor() as cursor:
        for table in ("members_member", "loyalty_account", "members_tierchange", "loyalty_operation", "loyalty_lot",
                      "loyalty_ledgerentry"):
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1000000 FROM {table}")
            ids[table] = cursor.fetchone()[0]
    folder = Path(tempfile.mkdtemp(prefix="copy-", dir="/tmp"))
    files = {table: (folder / f"{table}.tsv").open("w", encoding="utf-8") for table in ids}
    rows = 0
    with csv_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        # Referral codes: 10 characters, which the import's random 8-character codes never are (no collision).
        for n, (external_id, name, phone, email, birthday, store, points) in enumerate(reader):
            rows += 1
            member_id, account_id = ids["members_member"] + n, ids["loyalty_account"] + n
            eid = "CPY" + external_id
            born = birthday_parse(birthday)
            files["members_member"].write("\t".join([
                str(member_id), eid, name, normalize_phone(phone), email, born.isoformat() if born else r"\N",
                r"\N", "offline", str(stores[store]), "f", "f", r"\N", "active", f"CPY{n:07d}", r"\N", str(tier_id),
                r"\N", r"\N", r"\N", eid, now, now]) + "\n")
            files["loyalty_account"].write(f"{account_id}\t{member_id}\t\\N\t{int(points)}\t0\t"
                                           f"{1 if int(points) else 0}\t{now}\n")
            files["members_tierchange"].write(f"{ids['members_tierchange'] + n}\t{member_id}\t\\N\t{tier_id}\t"
                                              f"joined\t\t\\N\t{now}\n")
            if int(points):
                key = f"import:{eid}"
                op_id, lot_id = ids["loyalty_operation"] + n, ids["loyalty_lot"] + n
                result = json.dumps({"member": eid, "points": int(points),
                                     "balance": {"available": int(points), "pending": 0}})
                files["loyalty_operation"].write(f"{op_id}\timport\t{key}\t{opening_fingerprint(eid, int(points))}\t"
                                                 f"{result}\t\\N\t\t{now}\n")
                files["loyalty_lot"].write(f"{lot_id}\t{account_id}\t{op_id}\timport\t{points}\t{points}\t{today}\t"
                                           f"{expires}\t\\N\t{now}\n")
                text = "Opening balance carried over"
                entry_id = ids["loyalty_ledgerentry"] + 2 * n
                files["loyalty_ledgerentry"].write(
                    f"{entry_id}\t{op_id}\t{account_id}\tearn\timport\t{points}\t{points}\t1\t"
                    f"{key}\t\t{text}\t\t{lot_id}\t{now}\t{now}\n"
                    f"{entry_id + 1}\t{op_id}\t{imported_account}\tearn\timport\t-{points}\t"
                    f"\\N\t\\N\t{key}\t\t{text}\t\t\\N\t{now}\t{now}\n")
    for handle in files.values():
        handle.close()
    columns = {
        "members_member": "id, external_id, name, phone, email, birthday, birthday_changed_at, channel, home_store_id,"
                          " marketing_sms, marketing_email, marketing_consent_at, status, referral_code,"
                          " referred_by_id, tier_id, tier_floor_id, tier_floor_until, merged_into_id, offline_id,"
                          " joined_at, updated_at",
        "loyalty_account": "id, member_id, system_code, balance, debt, version, created_at",
        "members_tierchange": "id, member_id, from_tier_id, to_tier_id, reason, note, changed_by_id, changed_at",
        "loyalty_operation": "id, kind, key, fingerprint, result, actor_id, actor_label, created_at",
        "loyalty_lot": "id, account_id, operation_id, source, points, remaining, available_on, expires_on,"
                       " moved_from_id, created_at",
        "loyalty_ledgerentry": "id, operation_id, account_id, kind, source, points, balance_after, version, reference,"
                               " order_id, description, internal_note, lot_id, occurred_at, created_at",
    }

    def copy(tables: list[str], *, checked: bool = False) -> tuple[float, int]:
        raw = connection.connection
        written = 0
        started = time.perf_counter()
        with raw.transaction(force_rollback=True), raw.cursor() as cursor:  # type: ignore[union-attr]
            if checked:  # the foreign keys are deferred to the commit, which a rollback skips: check them now
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in tables:
                with (folder / f"{table}.tsv").open("rb") as source, \
                        cursor.copy(f"COPY {table} ({columns[table]}) FROM STDIN") as sink:
                    while block := source.read(1 << 20):
                        sink.write(block)
                written += cursor.rowcount if cursor.rowcount > 0 else 0
        return time.perf_counter() - started, written

    connection.ensure_connection()
    connection.connection.autocommit = True  # type: ignore[union-attr]
    members_seconds, _ = copy(["members_member"])
    all_seconds, _ = copy(list(columns))
    checked_seconds, _ = copy(list(columns), checked=True)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return {"rows": rows, "members_only_seconds": round(members_seconds, 1),
            "members_only_rows_per_s": round(rows / members_seconds),
            "all_tables_seconds": round(all_seconds, 1), "all_tables_rows_per_s": round(rows / all_seconds),
            "checked_seconds": round(checked_seconds, 1), "checked_rows_per_s": round(rows / checked_seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--audit", action="store_true")
    parser.add_argument("--phase", choices=["all", "import", "copy"], default="all")
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    django_on_bench_db()
    if args.phase == "import":
        print(json.dumps(phase_import(args.csv, args.chunk, args.audit)))
        return
    if args.phase == "copy":
        print(json.dumps(phase_copy(args.csv)))
        return

    from django.core.management import call_command

    from members.models import Store

    call_command("migrate", verbosity=0)
    for code in STORES:
        Store.objects.get_or_create(code=code, defaults={"name": f"Bench store {code}"})
    from members.models import Member

    prefix = f"I{int(time.time()) % 100000:05d}-"
    used = Member.objects.filter(phone__startswith="011").order_by("-phone").values_list("phone", flat=True).first()
    phones_from = int(used[3:]) + 1 if used else 0
    csv_path = Path(tempfile.gettempdir()) / f"bench-members-{args.rows}-{prefix.rstrip('-')}.csv"
    started = time.perf_counter()
    generate(csv_path, args.rows, prefix, phones_from)
    print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in "
          f"{time.perf_counter() - started:.1f} s: {csv_path}")
    # DEBUG off, as in production: with it on Django keeps (and renders) every statement's parameters.
    env = {**os.environ, "DANGOL_IMPORT_DIR": tempfile.mkdtemp(prefix="bench-imports-"), "DJANGO_DEBUG": "false"}
    base = [sys.executable, __file__, "--csv", str(csv_path), "--chunk", str(args.chunk)]
    imported = json.loads(subprocess.run([*base, "--phase", "import", *(["--audit"] if args.audit else [])],
                                         check=True, capture_output=True, text=True, env=env).stdout.splitlines()[-1])
    copied = json.loads(subprocess.run([*base, "--phase", "copy"], check=True, capture_output=True, text=True,
                                       env=env).stdout.splitlines()[-1])
    print(f"import  : {imported['rows']:,} rows in {imported['seconds']} s = {imported['rows_per_s']:,} rows/s, "
          f"peak RSS {imported['rss_mb_peak']} MB (after Django setup: {imported['rss_mb_before']} MB)")
    print(f"          created {imported['created']:,}, rejected {imported['rejected']:,}, opening balances "
          f"{imported['opening']:,} ({imported['opening_points']:,} P)"
          + (f", audit: {imported['violations']} violations in {imported['audit_seconds']} s" if args.audit else ""))
    members_only, all_tables = copied["members_only_rows_per_s"], copied["all_tables_rows_per_s"]
    checked = copied["checked_rows_per_s"]
    print(f"COPY    : members only {members_only:,} rows/s ({copied['members_only_seconds']} s); "
          f"every table the import writes {all_tables:,} rows/s ({copied['all_tables_seconds']} s); "
          f"the same with its foreign keys checked {checked:,} rows/s ({copied['checked_seconds']} s)")
    print(f"ratio   : COPY (members only) / import = {members_only / imported['rows_per_s']:.2f}x; "
          f"COPY (all tables) / import = {all_tables / imported['rows_per_s']:.2f}x; "
          f"COPY (all tables, keys checked) / import = {checked / imported['rows_per_s']:.2f}x")
    print("json    :", json.dumps({"import": imported, "copy": copied}))
    csv_path.unlink()


if __name__ == "__main__":
    main()
