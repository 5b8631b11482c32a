"""Manual adjustments of points, maker-checker: a request form, the list of requests waiting
for approval, and a decision page. Every write is a call to a loyalty service.

Django's stock add page is replaced by the request form (its POST would run inside
``atomic``, where the durable services refuse to run); below the programme's threshold the
service applies the request at once, from it up a different person holding
``loyalty.approve_adjustment`` approves or rejects it. Nothing is ever edited or deleted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.admin import AuditHistoryMixin
from audit.context import audit_reason
from members.models import Member

from .. import clock
from ..errors import InsufficientPoints, LoyaltyError
from ..models import Adjustment
from ..policy import DEFAULT_VALIDITY_DAYS, policy_cached
from ..selectors import BalanceCard, balance_card
from ..services import adjustment_approve, adjustment_reject, adjustment_request
from ..services.adjustments import APPROVE_PERMISSION
from .readonly import ReadOnlyAdmin


class Direction:
    ADD = "add"
    DEDUCT = "deduct"
    CHOICES = ((ADD, _("Add points")), (DEDUCT, _("Deduct points")))


class AdjustmentRequestForm(forms.Form):
    member = forms.ModelChoiceField(
        label=_("member"), queryset=Member.objects.all(),
        help_text=_("The member's number; the magnifier finds them by name, phone or external id."),
    )
    direction = forms.ChoiceField(label=_("add or deduct"), choices=Direction.CHOICES, widget=forms.RadioSelect,
                                  initial=Direction.ADD)
    points = forms.IntegerField(label=_("points"), min_value=1, max_value=100_000_000,
                                help_text=_("A whole number of points, without a sign."))
    reason_code = forms.ChoiceField(label=_("reason code"), choices=[("", "---------"), *Adjustment.ReasonCode.choices],
                                    help_text=_("Why, for reports: choose one."))
    reason = forms.CharField(
        label=_("reason shown to the member"), max_length=200,
        help_text=_("The member reads this in their points history, e.g. \"Apology for the late delivery\"."),
    )
    internal_note = forms.CharField(
        label=_("internal note"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For staff only: ticket number, what happened. The member never sees it."),
    )
    validity_days = forms.IntegerField(
        label=_("validity (days)"), required=False, min_value=1, max_value=3650,
        help_text=format_lazy(_("For added points: days until they expire. Empty: {days} days, the usual validity."),
                              days=DEFAULT_VALIDITY_DAYS),
    )
    never_expires = forms.BooleanField(label=_("added points never expire"), required=False)

    def __init__(self, *args: Any, admin_site: admin.AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        relation = Adjustment._meta.get_field("member").remote_field
        self.fields["member"].widget = ForeignKeyRawIdWidget(relation, admin_site)  # type: ignore[arg-type]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("direction") == Direction.DEDUCT and (data.get("validity_days") or data.get("never_expires")):
            raise forms.ValidationError(_("Validity applies to added points only."))
        if data.get("validity_days") and data.get("never_expires"):
            raise forms.ValidationError(_("Give a validity or tick \"never expire\", not both."))
        return data

    @property
    def signed_points(self) -> int:
        points = int(self.cleaned_data["points"])
        return -points if self.cleaned_data["direction"] == Direction.DEDUCT else points

    @property
    def validity(self) -> int | None:
        if self.cleaned_data.get("never_expires"):
            return None
        return self.cleaned_data.get("validity_days") or DEFAULT_VALIDITY_DAYS


class DecisionForm(forms.Form):
    note = forms.CharField(
        label=_("decision note"), max_length=200, required=False,
        help_text=_("Optional when approving; say why when rejecting."),
    )


def _error_text(exc: LoyaltyError) -> str:
    """A service's refusal as the operator reads it, in their language."""
    if isinstance(exc, InsufficientPoints):
        held = max(int(exc.extra.get("available", 0) or 0), 0)
        return gettext("The member holds %(held)s points: this deduction cannot be made.") % {"held": f"{held:,}"}
    return gettext(str(exc.detail))


def _balance(member_id: int) -> BalanceCard | None:
    return balance_card(clock.today(), policy_cached().expiry_notice_days, member_id=member_id)


@admin.register(Adjustment)
class AdjustmentAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ("created_at", "member_link", "signed_points", "reason_code", "reason", "status_badge",
                    "requested_by", "decided_by", "decided_at", "decide_link")
    list_filter = ("status", "reason_code")
    search_fields = ("=member__external_id", "=id")
    search_help_text = _("Search by the member's external id or the request number.")
    list_select_related = ("member", "requested_by", "decided_by")
    show_full_result_count = False
    readonly_fields = ("member", "points", "reason_code", "reason", "internal_note", "validity_days", "status",
                       "requested_by", "created_at", "decided_by", "decided_at", "decision_note", "operation")
    fields = readonly_fields

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("request/", wrap(self.request_view), name="loyalty_adjustment_request"),
            path("pending/", wrap(self.pending_view), name="loyalty_adjustment_pending"),
            path("<int:adjustment_id>/decide/", wrap(self.decide_view), name="loyalty_adjustment_decide"),
            *super().get_urls(),
        ]

    # Requests are made on the request form, never on Django's add page.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loyalty.add_adjustment")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        query = request.GET.urlencode()
        return HttpResponseRedirect(reverse("admin:loyalty_adjustment_request") + (f"?{query}" if query else ""))

    @admin.display(description=_("member"), ordering="member__external_id")
    def member_link(self, adjustment: Adjustment) -> str:
        url = reverse("admin:members_member_change", args=[adjustment.member_id])
        return format_html('<a href="{}">{}</a>', url, adjustment.member)

    @admin.display(description=_("points"), ordering="points")
    def signed_points(self, adjustment: Adjustment) -> str:
        return f"{adjustment.points:+,} P"

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, adjustment: Adjustment) -> str:
        colour = {"pending": "#b26a00", "applied": "#1b7a35", "rejected": "#a12020"}[adjustment.status]
        return format_html('<strong style="color:{}">{}</strong>', colour, adjustment.get_status_display())

    @admin.display(description="")
    def decide_link(self, adjustment: Adjustment) -> str:
        if adjustment.status != Adjustment.Status.PENDING:
            return ""
        url = reverse("admin:loyalty_adjustment_decide", args=[adjustment.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, gettext("Review"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {
            "pending_count": Adjustment.objects.filter(status=Adjustment.Status.PENDING).count(),
            "can_request": self.has_add_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title,
                "threshold": policy_cached().adjustment_approval_threshold, **extra}

    def request_view(self, request: HttpRequest) -> HttpResponse:
        """The request form: applied at once below the threshold, waiting for approval from it up."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial: dict[str, Any] = {}
        member_pk = request.GET.get("member", "")
        if member_pk.isdigit():
            initial["member"] = int(member_pk)
        form = AdjustmentRequestForm(request.POST or None, initial=initial, admin_site=self.admin_site)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                with audit_reason(f"{Adjustment.ReasonCode(data['reason_code']).label}: {data['reason']}"):
                    adjustment = adjustment_request(
                        member=data["member"], points=form.signed_points, reason=data["reason"],
                        reason_code=data["reason_code"], internal_note=data["internal_note"],
                        validity_days=form.validity, requested_by=request.user,
                    )
            except LoyaltyError as exc:
                for name, problems in (exc.errors or {}).items():
                    if name in form.fields and not isinstance(exc, InsufficientPoints):
                        form.add_error(name, [gettext(p) for p in problems])
                form.add_error(None, _error_text(exc))
            else:
                values = {"points": f"{adjustment.points:+,}", "member": adjustment.member}
                if adjustment.status == Adjustment.Status.APPLIED:
                    self.message_user(request, gettext("Applied: %(points)s P for %(member)s.") % values,
                                      messages.SUCCESS)
                else:
                    self.message_user(
                        request,
                        gettext("Requested: %(points)s P for %(member)s waits for approval by another person.")
                        % values, messages.WARNING,
                    )
                return HttpResponseRedirect(reverse("admin:loyalty_adjustment_changelist"))
        member = None
        member_id = form["member"].value()
        if member_id and str(member_id).isdigit():
            member = Member.objects.select_related("tier").filter(pk=int(member_id)).first()
        context = self._context(
            request, gettext("Request a manual adjustment"), form=form, member=member,
            card=_balance(member.pk) if member is not None else None, media=self.media + form.media,
        )
        return TemplateResponse(request, "admin/loyalty/adjustment/request.html", context)

    def pending_view(self, request: HttpRequest) -> HttpResponse:
        """Requests waiting for approval, oldest first (the queue is short: it is worked off daily)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        pending = list(
            Adjustment.objects.filter(status=Adjustment.Status.PENDING)
            .select_related("member", "requested_by").order_by("created_at", "id")[:200]
        )
        context = self._context(
            request, gettext("Adjustments waiting for approval"), pending=pending,
            can_approve=request.user.has_perm(APPROVE_PERMISSION),
        )
        return TemplateResponse(request, "admin/loyalty/adjustment/pending.html", context)

    def decide_view(self, request: HttpRequest, adjustment_id: int) -> HttpResponse:
        """Approve or reject one request; the service refuses self-decisions and double decisions."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        adjustment = get_object_or_404(
            Adjustment.objects.select_related("member", "requested_by", "decided_by"), pk=adjustment_id
        )
        can_approve = request.user.has_perm(APPROVE_PERMISSION)
        form = DecisionForm(request.POST or None)
        if request.method == "POST":
            if not can_approve:
                raise PermissionDenied
            decision = request.POST.get("decision")
            if decision not in ("approve", "reject"):
                form.add_error(None, gettext("Choose approve or reject."))
            elif form.is_valid():
                note = form.cleaned_data["note"]
                service = adjustment_approve if decision == "approve" else adjustment_reject
                try:
                    with audit_reason(note):
                        decided = service(adjustment_id=adjustment.pk, approver=request.user, note=note)
                except LoyaltyError as exc:
                    form.add_error(None, _error_text(exc))
                else:
                    values = {"points": f"{decided.points:+,}", "member": decided.member}
                    text = (gettext("Approved and applied: %(points)s P for %(member)s.") if decision == "approve"
                            else gettext("Rejected: %(points)s P for %(member)s; no points moved."))
                    self.message_user(request, text % values, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:loyalty_adjustment_pending"))
        own = adjustment.requested_by_id == request.user.pk
        context = self._context(
            request, gettext("Review a manual adjustment"), adjustment=adjustment, form=form,
            can_approve=can_approve, own=own, card=_balance(adjustment.member_id),
        )
        return TemplateResponse(request, "admin/loyalty/adjustment/decide.html", context)
