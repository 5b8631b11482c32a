"""``manage.py import_members FILE [--dry-run] [--store CODE]``: the admin's member import, for scripts.

Exit status: 0 when every row went in, 1 when some rows were rejected (the others were
imported), 2 when the file was refused as a whole (nothing written).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from loyalty.services.imports import ImportTally, member_import_preview, member_import_run, member_import_upload
from members.imports.jobs import ImportState, MemberImport


class Command(BaseCommand):
    help = "Import members (and their opening points) from a CSV or XLSX file, as the admin's import does."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Show what would happen; write nothing.")
        parser.add_argument("--store", default="", help="Store code for rows whose store cell is blank.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        with path.open("rb") as handle:
            job = member_import_upload(file=handle, file_name=path.name, default_store_code=options["store"])
        if options["dry_run"]:
            tally = member_import_preview(job)
            job.refresh_from_db()
            rejections = [(r.line, r.column, r.reason) for r in tally.rejections]
        else:
            tally = member_import_run(job.pk)
            job.refresh_from_db()
            rejections = list(job.rejections.values_list("line", "column", "reason"))
        if job.state == ImportState.REFUSED:
            self.stderr.write(f"Refused: {job.refusal}")
            sys.exit(2)
        self._report(job, tally, rejections, dry_run=options["dry_run"])
        if tally.rejected:
            sys.exit(1)

    def _report(self, job: MemberImport, tally: ImportTally, rejections: list[tuple[int, str, str]], *,
                dry_run: bool) -> None:
        verb = "would be" if dry_run else "were"
        self.stdout.write(
            f"{job.file_name}: {tally.processed_rows} rows; members created {tally.created}, updated {tally.updated}, "
            f"unchanged {tally.unchanged}; rows rejected {tally.rejected}; opening balances {verb} booked "
            f"{tally.opening} ({tally.opening_points} P), already imported {tally.opening_already}."
        )
        if tally.unknown_stores:
            self.stdout.write(f"Unknown store codes: {', '.join(sorted(tally.unknown_stores))}")
        for line, column, reason in rejections:
            where = f"line {line}" + (f", {column}" if column else "")
            self.stdout.write(f"  {where}: {reason}")
