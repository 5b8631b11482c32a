"""The base of every ledger admin: read-only, and fast on tables of ten million rows.

History is written by the loyalty services only; staff read it here. Three things keep a list
page from touching the whole table:

* :class:`EstimatedCountPaginator` never runs a full ``COUNT(*)``: an unfiltered list of a big
  table shows PostgreSQL's own row estimate (``pg_class.reltuples``, kept by autovacuum), a
  filtered one counts at most :attr:`~EstimatedCountPaginator.count_cap` rows, and no list
  pages deeper than :attr:`~EstimatedCountPaginator.max_pages` (a deep ``OFFSET`` reads every
  row it skips; searching is the way to an old row).
* :meth:`ReadOnlyAdmin.get_search_results` is an equality on indexed columns, built by each
  admin's :meth:`~ReadOnlyAdmin.search_filter`, never Django's ``icontains`` over every row.
* ``show_full_result_count = False`` drops the second count Django runs beside a search.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from audit.readonly import ReadOnlyAdminMixin
from members.models import Member
from members.paging import EstimatedCountPaginator

from ..models import Account

# Operation keys are "<kind>:<the caller's id>" (see loyalty/services): a reference typed in the
# admin (an order id, a refund id, "review:R-1") is found through the unique index on the key.
OPERATION_KEY_PREFIXES = ("purchase", "refund", "redeem", "activity", "adjust", "import", "merge")


def member_id_for(term: str) -> int | None:
    """The member whose shop id (external id) is ``term`` exactly: one unique-index lookup."""
    return Member.objects.filter(external_id=term).values_list("pk", flat=True).first()


def account_id_for(term: str) -> int | None:
    """The points account of the member whose external id is ``term``."""
    member_id = member_id_for(term)
    if member_id is None:
        return None
    return Account.objects.filter(member_id=member_id).values_list("pk", flat=True).first()


def operation_keys_for(term: str) -> list[str]:
    """The operation keys a typed reference may be: itself, or any ``<kind>:<term>``."""
    return [term] + [f"{prefix}:{term}" for prefix in OPERATION_KEY_PREFIXES]


def pk_filter(term: str) -> Q:
    """A numeric term also matches the row's own id (shown in the first column of most lists)."""
    return Q(pk=int(term)) if term.isdigit() and len(term) < 19 else Q(pk__in=[])


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """History is written by the loyalty services only; staff read it here, quickly.

    Nobody may add, change or delete a row, superusers included: the ledger corrects a
    mistake with a new entry, never by rewriting one. Subclasses state their exact-match
    search in :meth:`search_filter` and order by an indexed column.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions: Any = ()
    ordering = ("-id",)

    def search_filter(self, term: str) -> Q:
        """The rows ``term`` names exactly; every branch must be an equality on an indexed column."""
        return pk_filter(term)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.search_filter(term)), False
