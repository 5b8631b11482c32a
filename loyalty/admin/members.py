"""Members in the admin: the page operations staff live on (identity, points, history).

No side doors: Django's stock add and change views save a model inside ``atomic``, where the
durable services refuse to run, and would let staff type a phone as-is, skip the points
account or rewrite ``status``, ``tier``, ``merged_into`` and ``referred_by`` by hand. So the
add and change pages here are form views of our own that call the services
(``loyalty.services.member_register`` normalizes the phone and opens the points account), and every other
change is a small action view calling its service: status, tier floor, referrer, and the
merge of a duplicate (``loyalty.services.member_points_merge``, which moves the points).
Nothing here deletes a member.

Fast at a million members: the list never counts the table (see :mod:`members.paging`), shows
points for the page's members in one grouped query, and every search is an indexed
lookup (exact external id, e-mail and normalized phone; trigram for names and phone
endings on PostgreSQL). Every view, search, change and export is written to the
personal-data access log; staff without ``members.view_personal_data`` see phones, e-mail
addresses and birthdays masked (:mod:`members.privacy`).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin import AuditHistoryMixin
from audit.context import audit_reason
from audit.selectors import changes_for
from loyalty import clock
from loyalty.errors import LoyaltyError
from loyalty.member_balances import members_with_points_expiring, points_by_member
from loyalty.models import Account, LedgerEntry, Lot, Purchase, Redemption
from loyalty.selectors import balance_summary
from loyalty.services import member_points_merge, member_register
from loyalty.windows import local_midnight
from members.access_log import client_ip, personal_data_access_record
from members.errors import MemberError
from members.models import Member, MemberStatus, PersonalDataAccess, TierChange
from members.paging import EstimatedCountPaginator
from members.phone import InvalidPhoneNumber, format_phone, normalize_phone
from members.privacy import birthday_for, email_for, personal_data_visible, phone_for
from members.services import member_referrer_set, member_status_set, member_tier_floor_set

from .exports import FilteredExportMixin
from .member_forms import (
    ExportForm,
    MemberAddForm,
    MemberIdentityForm,
    MemberStatusForm,
    MergeConfirmForm,
    MergeFindForm,
    ReferrerForm,
    TierFloorForm,
    errors_onto,
)

EXPORT_PERMISSION = "members.export_members"
ADJUSTMENT_ADD_PERMISSION = "loyalty.add_adjustment"
ENTRIES_PER_PAGE = 20
RECENT_ROWS = 20
BULK_LIMIT = 500  # members per bulk status change: each is its own transaction


# List filters ----------------------------------------------------------------------------


class JoinedRangeFilter(admin.ListFilter):
    """Members who joined between two dates (both included), in the programme's time zone."""

    title = _("joined between")
    template = "admin/loyalty/member/joined_filter.html"
    parameters = ("joined_from", "joined_to")

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        self.dates: dict[str, date | None] = {}
        self.raw: dict[str, str] = {}
        for name in self.parameters:
            if name in params:
                value = params.pop(name)
                text = value[-1] if isinstance(value, list) else value
                self.raw[name] = text
                self.used_parameters[name] = text
                try:
                    self.dates[name] = date.fromisoformat(text) if text else None
                except ValueError:
                    self.dates[name] = None

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return list(self.parameters)

    def choices(self, changelist: Any) -> Any:
        keep = [(key, value) for key, value in changelist.params.items() if key not in self.parameters]
        yield {
            "from": self.raw.get("joined_from", ""), "to": self.raw.get("joined_to", ""), "keep": keep,
            "clear_url": changelist.get_query_string(remove=list(self.parameters)),
            "selected": bool(self.used_parameters),
        }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        start, end = self.dates.get("joined_from"), self.dates.get("joined_to")
        if start:
            queryset = queryset.filter(joined_at__gte=local_midnight(start))
        if end:
            queryset = queryset.filter(joined_at__lt=local_midnight(end + timedelta(days=1)))
        return queryset


class BirthdayMonthFilter(admin.SimpleListFilter):
    title = _("birthday month")
    parameter_name = "birthday_month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(month), str(MONTHS[month])) for month in range(1, 13)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        value = self.value()
        if value and value.isdigit() and 1 <= int(value) <= 12:
            return queryset.filter(birthday__month=int(value))
        return queryset


class ExpiringPointsFilter(admin.SimpleListFilter):
    title = _("points expiring")
    parameter_name = "expiring"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("30", _("within 30 days"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        if self.value() == "30":
            return members_with_points_expiring(queryset, clock.today(), 30)
        return queryset


# The list --------------------------------------------------------------------------------


class MemberChangeList(ChangeList):
    """The changelist, plus each listed member's points from one grouped query."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        members = list(self.result_list)
        points = points_by_member([member.pk for member in members], clock.today())
        for member in members:  # masked here, per request: the ModelAdmin is shared by every thread
            member.points_columns = points.get(member.pk)  # type: ignore[attr-defined]
            member.phone_shown = phone_for(request.user, member.phone)  # type: ignore[attr-defined]
            member.email_shown = email_for(request.user, member.email)  # type: ignore[attr-defined]
        self.result_list = members  # type: ignore[assignment]


def search_filter(term: str) -> Q | None:
    """The lookup for what staff typed, each branch served by an index.

    An e-mail address matches exactly (stored lower-case); a phone in any notation matches
    the normalized digits; 4 to 8 digits match the end of a phone ("the last four digits");
    anything else matches an external id exactly or a name by substring (trigram index).
    """
    term = term.strip()
    if not term:
        return None
    if "@" in term:
        return Q(email=term.lower())
    try:
        return Q(phone=normalize_phone(term))
    except InvalidPhoneNumber:
        pass
    digits = "".join(ch for ch in term if ch.isdigit())
    if digits and len(digits) == len(term.replace("-", "").replace(" ", "")) and 4 <= len(digits) <= 8:
        return Q(external_id=term) | Q(phone__endswith=digits)
    return Q(external_id=term) | Q(name__icontains=term)


@admin.register(Member)
class MemberAdmin(FilteredExportMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("external_id", "name", "phone_shown", "email_shown", "tier", "available_points",
                    "pending_points", "status", "joined_at")
    list_display_links = ("external_id", "name")
    list_filter = ("tier", "home_store", "channel", "status", JoinedRangeFilter, BirthdayMonthFilter,
                   ExpiringPointsFilter)
    list_select_related = ("tier",)
    search_fields = ("name",)  # shows the search box; get_search_results decides what matches
    search_help_text = _("Name, external id, e-mail, phone in any notation, or a phone's last 4 digits")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    ordering = ("-joined_at", "-id")
    sortable_by = ("external_id", "joined_at")  # the indexed ones: sorting by name or tier sorts a million rows
    actions = ["status_set_selected"]

    # Columns ---------------------------------------------------------------------------

    @admin.display(description=_("phone"))
    def phone_shown(self, member: Member) -> str:
        return format_html('<span style="white-space: nowrap">{}</span>', getattr(member, "phone_shown", ""))

    @admin.display(description=_("email"))
    def email_shown(self, member: Member) -> str:
        return str(getattr(member, "email_shown", ""))

    @admin.display(description=_("available points"))
    def available_points(self, member: Member) -> str:
        columns = getattr(member, "points_columns", None)
        return f"{columns.available:,} P" if columns else "0 P"

    @admin.display(description=_("pending points"))
    def pending_points(self, member: Member) -> str:
        columns = getattr(member, "points_columns", None)
        return f"{columns.pending:,} P" if columns else "0 P"

    # Permissions: staff change members through the views below, never delete them --------

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return MemberChangeList

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Member], search_term: str) -> Any:
        lookup = search_filter(search_term)
        return (queryset if lookup is None else queryset.filter(lookup)), False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            term = changelist.query
            filters = "&".join(f"{k}={v}" for k, v in changelist.params.items() if k != "q")
            personal_data_access_record(
                user=request.user,
                action=PersonalDataAccess.Action.SEARCH if term else PersonalDataAccess.Action.LIST,
                member_ids=[member.pk for member in changelist.result_list],
                query=" ".join(part for part in (term, filters) if part),
                ip_address=client_ip(request),
            )
        return response

    @admin.action(description=_("Change the status of the selected members"), permissions=["change"])
    def status_set_selected(self, request: HttpRequest, queryset: QuerySet[Member]) -> Any:
        """Set one status on up to :data:`BULK_LIMIT` selected members, each through the service."""
        selected = list(queryset.order_by("pk").values_list("pk", "external_id")[: BULK_LIMIT + 1])
        if len(selected) > BULK_LIMIT:
            self.message_user(request, gettext("Select at most %(limit)d members at a time.")
                              % {"limit": BULK_LIMIT}, messages.ERROR)
            return None
        form = MemberStatusForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            changed, refused = [], []
            for pk, external_id in selected:
                try:
                    member_status_set(member_id=pk, status=form.cleaned_data["status"])
                except (LoyaltyError, MemberError):
                    refused.append(external_id)
                else:
                    changed.append(pk)
            if changed:
                personal_data_access_record(
                    user=request.user, action=PersonalDataAccess.Action.CHANGE, member_ids=changed,
                    query=gettext("Status changed."), reason=form.cleaned_data["reason"],
                    ip_address=client_ip(request),
                )
            self.message_user(request, gettext("Status changed for %(count)d members.") % {"count": len(changed)},
                              messages.SUCCESS)
            if refused:
                self.message_user(request, gettext("Not changed (merged members keep their status): %(ids)s")
                                  % {"ids": ", ".join(refused)}, messages.WARNING)
            return None
        context = self._context(request, title=gettext("Change the status of the selected members"), form=form,
                                selected=selected, action_checkbox_name=ACTION_CHECKBOX_NAME)
        return TemplateResponse(request, "admin/loyalty/member/status_action.html", context)

    # URLs: the page and its actions --------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path("<int:member_id>/status/", wrap(self.status_view), name=f"{prefix}_status"),
            path("<int:member_id>/tier-floor/", wrap(self.tier_floor_view), name=f"{prefix}_tier_floor"),
            path("<int:member_id>/referrer/", wrap(self.referrer_view), name=f"{prefix}_referrer"),
            path("<int:member_id>/merge/", wrap(self.merge_view), name=f"{prefix}_merge"),
            path("<int:member_id>/export/", wrap(self.export_one_view), name=f"{prefix}_export_one"),
        ]
        return own + super().get_urls()

    def _member_or_404(self, member_id: Any) -> Member:
        member = Member.objects.select_related(
            "tier", "tier_floor", "home_store", "referred_by", "merged_into"
        ).filter(pk=member_id).first() if str(member_id).isdigit() else None
        if member is None:
            raise Http404(gettext("No such member."))
        return member

    def _page_url(self, member: Member) -> str:
        return reverse("admin:members_member_change", args=[member.pk])

    def _context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.opts, "app_label": self.opts.app_label,
                **extra}

    def _require_change(self, request: HttpRequest) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied

    # Add: our own form, calling member_register (normalizes the phone, opens the account) ----

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = MemberAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                member = member_register(**form.service_arguments()).member
            except (LoyaltyError, MemberError) as error:
                errors_onto(form, error)
            else:
                self.log_addition(request, member, [{"added": {}}])
                personal_data_access_record(
                    user=request.user, action=PersonalDataAccess.Action.CHANGE, member_ids=[member.pk],
                    query=gettext("member added"), ip_address=client_ip(request),
                )
                self.message_user(request, gettext("Member %(name)s added with a points account.")
                                  % {"name": member.name}, messages.SUCCESS)
                others = Member.objects.filter(phone=member.phone).exclude(pk=member.pk) if member.phone else None
                if others is not None and others.exists():
                    self.message_user(request, gettext(
                        "Another member has the same phone: if they are one person, merge them from this page."
                    ), messages.WARNING)
                return HttpResponseRedirect(self._page_url(member))
        context = self._context(request, title=gettext("Add member"), form=form, submit=gettext("Add member"),
                                intro=gettext("The phone is stored in one notation and the member gets a points "
                                              "account at once, so the POS and the shop find them right away."))
        return TemplateResponse(request, "admin/loyalty/member/form.html", context)

    # The member page ---------------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> Any:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        member = self._member_or_404(object_id)
        can_change = self.has_change_permission(request, member) and member.status != MemberStatus.MERGED
        form = None
        if can_change:
            form = MemberIdentityForm(request.POST or None, initial=MemberIdentityForm.initial_for(member))
            if request.method == "POST" and form.is_valid():
                try:
                    member_register(external_id=member.external_id, **form.service_arguments())
                except (LoyaltyError, MemberError) as error:
                    errors_onto(form, error)
                else:
                    changed = [name for name in form.changed_data]
                    self.log_change(request, member, [{"changed": {"fields": changed}}])
                    personal_data_access_record(
                        user=request.user, action=PersonalDataAccess.Action.CHANGE, member_ids=[member.pk],
                        query=", ".join(changed), ip_address=client_ip(request),
                    )
                    self.message_user(request, gettext("Member saved."), messages.SUCCESS)
                    return HttpResponseRedirect(self._page_url(member))
        elif request.method == "POST":
            raise PermissionDenied
        personal_data_access_record(user=request.user, action=PersonalDataAccess.Action.VIEW,
                                    member_ids=[member.pk], ip_address=client_ip(request))
        context = self._context(request, title=member.name, original=member, form=form, can_change=can_change,
                                **self._page_sections(request, member, can_change))
        return TemplateResponse(request, "admin/loyalty/member/page.html", context)

    def _page_sections(self, request: HttpRequest, member: Member, can_change: bool) -> dict[str, Any]:
        """Everything the member page shows, each a bounded query on an index."""
        user = request.user
        today = clock.today()
        account = Account.objects.filter(member_id=member.pk).first()
        balance = balance_summary(account, today, 30) if account else None
        lots = list(Lot.objects.filter(account=account).order_by("-id")[:RECENT_ROWS]) if account else []
        entries_page = None
        if account:
            entries = LedgerEntry.objects.filter(account=account).order_by("-occurred_at", "-id").only(
                "id", "kind", "source", "points", "balance_after", "description", "order_id", "occurred_at")
            entries_page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("entries"))
        purchases = list(Purchase.objects.filter(member_id=member.pk).order_by("-occurred_at")[:RECENT_ROWS])
        redemptions = list(Redemption.objects.filter(member_id=member.pk).order_by("-created_at")[:RECENT_ROWS])
        tier_history = list(TierChange.objects.filter(member_id=member.pk).select_related(
            "from_tier", "to_tier", "changed_by").order_by("-changed_at", "-id")[:RECENT_ROWS])
        referrals = list(Member.objects.filter(referred_by_id=member.pk).order_by("-joined_at")[:RECENT_ROWS])
        duplicates = list(Member.objects.filter(phone=member.phone).exclude(pk=member.pk).exclude(
            status=MemberStatus.MERGED)[:5]) if member.phone and can_change else []
        adjust_url = None
        if user.has_perm(ADJUSTMENT_ADD_PERMISSION) and can_change:
            try:
                adjust_url = reverse("admin:loyalty_adjustment_request") + f"?member={member.pk}"
            except NoReverseMatch:
                adjust_url = None
        return {
            "shown": {
                "phone": phone_for(user, member.phone), "email": email_for(user, member.email),
                "birthday": birthday_for(user, member.birthday), "unmasked": personal_data_visible(user),
            },
            "account": account, "balance": balance,
            "expiring_total": sum(points for points, _day in balance.expiring_soon) if balance else 0,
            "lots": lots, "today": today, "entries_page": entries_page, "purchases": purchases,
            "redemptions": redemptions, "tier_history": tier_history, "referrals": referrals,
            "duplicates": duplicates, "adjust_url": adjust_url,
            "changes": changes_for(member, user=user, limit=RECENT_ROWS),
            "can_export": user.has_perm(EXPORT_PERMISSION),
            "status_form": MemberStatusForm(initial={"status": member.status}) if can_change else None,
            "tier_floor_form": TierFloorForm() if can_change else None,
            "referrer_form": ReferrerForm() if can_change and member.referred_by_id is None else None,
        }

    # Actions, one service each -------------------------------------------------------------

    def _action(self, request: HttpRequest, member_id: int, form_class: Any, title: str, call: Any,
                done: str) -> Any:
        """A small form view: show the form, call the service on a valid POST, back to the page."""
        self._require_change(request)
        member = self._member_or_404(member_id)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                call(member, form.cleaned_data)
            except (LoyaltyError, MemberError) as error:
                errors_onto(form, error)
            else:
                self.log_change(request, member, done)
                personal_data_access_record(
                    user=request.user, action=PersonalDataAccess.Action.CHANGE, member_ids=[member.pk],
                    query=done, reason=str(form.cleaned_data.get("reason", "")), ip_address=client_ip(request),
                )
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(self._page_url(member))
        context = self._context(request, title=title, original=member, form=form, submit=title,
                                page_url=self._page_url(member))
        return TemplateResponse(request, "admin/loyalty/member/form.html", context)

    def status_view(self, request: HttpRequest, member_id: int) -> Any:
        def call(member: Member, data: dict[str, Any]) -> None:
            member_status_set(member_id=member.pk, status=data["status"])

        return self._action(request, member_id, MemberStatusForm, gettext("Change status"), call,
                            gettext("Status changed."))

    def tier_floor_view(self, request: HttpRequest, member_id: int) -> Any:
        def call(member: Member, data: dict[str, Any]) -> None:
            with audit_reason(data["reason"]):
                member_tier_floor_set(member_id=member.pk, tier_id=data["tier"].pk, until=data["until"],
                                      reason=data["reason"], actor=request.user)

        return self._action(request, member_id, TierFloorForm, gettext("Set a tier floor"), call,
                            gettext("Tier floor set and recorded in the tier history."))

    def referrer_view(self, request: HttpRequest, member_id: int) -> Any:
        def call(member: Member, data: dict[str, Any]) -> None:
            member_referrer_set(member_id=member.pk, referrer_code=data["referrer_code"])

        return self._action(request, member_id, ReferrerForm, gettext("Set the referrer"), call,
                            gettext("Referrer recorded."))

    def merge_view(self, request: HttpRequest, member_id: int) -> Any:
        """Find a duplicate by phone, preview what moves, then merge it into this member."""
        self._require_change(request)
        target = self._member_or_404(member_id)
        find = MergeFindForm(request.GET or None, initial={"phone": format_phone(target.phone) if target.phone else ""})
        candidates: list[Member] = []
        if find.is_bound and find.is_valid():
            candidates = list(Member.objects.filter(phone=find.cleaned_data["phone"]).exclude(pk=target.pk)
                              .exclude(status=MemberStatus.MERGED).select_related("tier")[:10])
        elif not find.is_bound and target.phone:
            candidates = list(Member.objects.filter(phone=target.phone).exclude(pk=target.pk)
                              .exclude(status=MemberStatus.MERGED).select_related("tier")[:10])
        source_id = request.POST.get("source") or request.GET.get("source")
        source = self._member_or_404(source_id) if source_id else None
        confirm = MergeConfirmForm(request.POST or None, initial={"source": source.pk if source else None})
        if request.method == "POST" and source is not None and confirm.is_valid():
            closed = (MemberStatus.MERGED, MemberStatus.WITHDRAWN)
            try:
                if source.status in closed or target.status in closed:
                    raise LoyaltyError(gettext("A merged or withdrawn member cannot take part in a merge."))
                outcome = member_points_merge(source=source, target=target, actor=request.user)
            except (LoyaltyError, MemberError) as error:
                confirm.add_error(None, error.detail)
            else:
                message = gettext("%(source)s merged into this member: %(points)s P moved.") % {
                    "source": source.external_id, "points": f"{outcome.data.get('points', 0):,}"}
                self.log_change(request, target, message)
                personal_data_access_record(
                    user=request.user, action=PersonalDataAccess.Action.CHANGE, member_ids=[target.pk, source.pk],
                    query=gettext("merge"), ip_address=client_ip(request),
                )
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(self._page_url(target))
        shown = [target, *candidates, *([source] if source else [])]
        personal_data_access_record(user=request.user, action=PersonalDataAccess.Action.VIEW,
                                    member_ids=[m.pk for m in shown], query=gettext("merge"),
                                    ip_address=client_ip(request))
        context = self._context(
            request, title=gettext("Merge a duplicate into %(name)s") % {"name": target.name}, original=target,
            find=find, candidates=[(m, phone_for(request.user, m.phone)) for m in candidates], source=source,
            preview=merge_preview(source, target) if source else None, confirm=confirm,
            page_url=self._page_url(target), target_phone=phone_for(request.user, target.phone),
        )
        return TemplateResponse(request, "admin/loyalty/member/merge.html", context)

    def export_one_view(self, request: HttpRequest, member_id: int) -> Any:
        """One member's data as JSON, with the reason recorded in the access log."""
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        member = self._member_or_404(member_id)
        form = ExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            personal_data_access_record(
                user=request.user, action=PersonalDataAccess.Action.EXPORT, member_ids=[member.pk],
                reason=form.cleaned_data["reason"], ip_address=client_ip(request),
            )
            body = json.dumps(member_export(member, request.user), cls=DjangoJSONEncoder, ensure_ascii=False,
                              indent=2)
            response = HttpResponse(body, content_type="application/json; charset=utf-8")
            stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
            response["Content-Disposition"] = f'attachment; filename="member-{member.external_id}-{stamp}.json"'
            return response
        context = self._context(request, title=gettext("Export this member's data"), original=member, form=form,
                                submit=gettext("Download"), page_url=self._page_url(member),
                                intro=gettext("The file holds the member's personal data, points and history. "
                                              "The export and its reason are recorded."))
        return TemplateResponse(request, "admin/loyalty/member/form.html", context)


def merge_preview(source: Member, target: Member) -> dict[str, Any]:
    """What a merge of ``source`` into ``target`` moves (the open lots and any debt) and what stays."""
    today = clock.today()
    account = Account.objects.filter(member_id=source.pk).first()
    lots = Lot.objects.filter(account=account, remaining__gt=0) if account else Lot.objects.none()
    totals = lots.aggregate(count=Count("id"), points=Sum("remaining"))
    spendable = lots.filter(available_on__lte=today).filter(Q(expires_on__isnull=True) | Q(expires_on__gt=today))
    return {
        "lots": totals["count"] or 0, "points": totals["points"] or 0,
        "spendable": spendable.aggregate(points=Sum("remaining"))["points"] or 0,
        "debt": account.debt if account else 0,
        "purchases": Purchase.objects.filter(member_id=source.pk).count(),
        "source_status": source.get_status_display(),
        "blocked": source.status in (MemberStatus.MERGED, MemberStatus.WITHDRAWN)
        or target.status in (MemberStatus.MERGED, MemberStatus.WITHDRAWN),
    }


def member_export(member: Member, user: Any) -> dict[str, Any]:
    """One member's record as the export holds it (masked as ``user`` may see it)."""
    account = Account.objects.filter(member_id=member.pk).first()
    balance = balance_summary(account, clock.today(), 30) if account else None
    return {
        "member": {
            "external_id": member.external_id, "name": member.name, "phone": phone_for(user, member.phone),
            "email": email_for(user, member.email), "birthday": birthday_for(user, member.birthday),
            "channel": member.channel, "home_store": member.home_store.code if member.home_store else None,
            "status": member.status, "tier": member.tier.code if member.tier else None,
            "tier_floor": member.tier_floor.code if member.tier_floor else None,
            "tier_floor_until": member.tier_floor_until, "referral_code": member.referral_code,
            "referred_by": member.referred_by.external_id if member.referred_by else None,
            "marketing_sms": member.marketing_sms, "marketing_email": member.marketing_email,
            "marketing_consent_at": member.marketing_consent_at, "joined_at": member.joined_at,
        },
        "balance": {"available": balance.available, "pending": balance.pending, "debt": balance.debt}
        if balance else None,
        "lots": list(Lot.objects.filter(account=account).order_by("id").values(
            "points", "remaining", "source", "available_on", "expires_on", "created_at")) if account else [],
        "ledger": list(LedgerEntry.objects.filter(account=account).order_by("occurred_at", "id").values(
            "occurred_at", "kind", "source", "points", "balance_after", "description", "order_id")) if account else [],
        "purchases": list(Purchase.objects.filter(member_id=member.pk).order_by("occurred_at").values(
            "order_id", "amount", "refunded_amount", "points", "points_reversed", "occurred_at")),
        "redemptions": list(Redemption.objects.filter(member_id=member.pk).order_by("created_at").values(
            "order_id", "points", "status", "created_at")),
        "tier_history": list(TierChange.objects.filter(member_id=member.pk).order_by("changed_at").values(
            "from_tier__code", "to_tier__code", "reason", "note", "changed_at")),
    }

