"""The one write path, enforced: only loyalty/ledger.py creates or changes ledger rows."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "members", "loyalty", "campaigns")
WRITES = re.compile(
    r"\b(LedgerEntry|Lot|LotMovement)(\.objects\.(create|bulk_create|bulk_update|update|get_or_create|"
    r"update_or_create)|\()"
    r"|\b(LedgerEntry|Lot|LotMovement)\.objects\.filter\([^)]*\)\.(update|delete)\("
)


def python_sources():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def test_only_the_ledger_module_writes_entries_and_lots():
    offenders = []
    for path in python_sources():
        if path == ROOT / "loyalty" / "ledger.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if WRITES.search(line) and not line.lstrip().startswith(("#", "class ", "def ")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_boundary_check_can_see_a_write():
    assert WRITES.search("    Lot.objects.create(account=a, points=1)")
    assert WRITES.search("LedgerEntry.objects.filter(pk=1).update(points=2)")
    assert not WRITES.search("Lot.objects.filter(account=a).values_list('remaining')")


def test_the_rules_core_imports_no_django():
    source = (ROOT / "loyalty" / "rules.py").read_text()
    assert not re.search(r"^\s*(from|import) (django|rest_framework)", source, re.M)


LEDGER_IMPORT = re.compile(r"(from \.\.?ledger|loyalty\.ledger|from \. import ledger)")


def test_edges_never_import_the_ledger_module():
    loyalty, members = ROOT / "loyalty", ROOT / "members"
    edges = [
        *(loyalty / "api").glob("*.py"),
        *(loyalty / "admin").glob("*.py"),
        members / "admin.py",
        loyalty / "tasks.py",
        *(loyalty / "management" / "commands").glob("*.py"),
        *(members / "management" / "commands").glob("*.py"),
    ]
    offenders = [str(path.relative_to(ROOT)) for path in edges if LEDGER_IMPORT.search(path.read_text())]
    assert offenders == []
