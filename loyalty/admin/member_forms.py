"""The member admin's forms: each one the input of exactly one service call.

They only parse and check what staff typed; the rules (phone normalization, who may refer
whom, what a tier floor means) live in :mod:`members.services`, whose refusals come back
as form errors on the field they name.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.errors import LoyaltyError
from members.errors import MemberError
from members.models import Channel, Member, Store, Tier
from members.phone import InvalidPhoneNumber, format_phone, normalize_phone
from members.services import STAFF_STATUSES

DATE_WIDGET = forms.DateInput(attrs={"type": "date"})


def errors_onto(form: forms.Form, error: LoyaltyError | MemberError) -> None:
    """Put a service's refusal on the form: on the fields it names, else on the whole form."""
    placed = False
    for name, messages in (error.errors or {}).items():
        field = {"store_code": "home_store"}.get(name, name)
        if field in form.fields:
            for message in messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


class MemberIdentityForm(forms.Form):
    """Who the member is: what staff may correct on the member page."""

    name = forms.CharField(label=_("name"), max_length=100)
    phone = forms.CharField(
        label=_("phone"), max_length=30, required=False,
        help_text=_("Any notation: 010-1234-5678, 01012345678, +82 10 1234 5678"),
    )
    email = forms.EmailField(label=_("email"), required=False)
    birthday = forms.DateField(label=_("birthday"), required=False, widget=DATE_WIDGET)
    channel = forms.ChoiceField(label=_("origin channel"), choices=Channel.choices)
    home_store = forms.ModelChoiceField(
        label=_("home store"), queryset=Store.objects.filter(is_active=True), required=False,
        help_text=_("Leave empty to keep the current home store"),
    )
    marketing_sms = forms.BooleanField(label=_("SMS marketing consent"), required=False)
    marketing_email = forms.BooleanField(label=_("email marketing consent"), required=False)

    def clean_phone(self) -> str:
        raw = self.cleaned_data["phone"].strip()
        if not raw:
            return ""
        try:
            return normalize_phone(raw)
        except InvalidPhoneNumber:
            raise forms.ValidationError(_("Enter a valid Korean phone number.")) from None

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``member_register`` this form fills."""
        data = self.cleaned_data
        store = data.get("home_store")
        return {
            "name": data["name"], "phone": data["phone"], "email": data["email"] or "",
            "birthday": data["birthday"], "channel": data["channel"],
            "store_code": store.code if store else None,
            "marketing_sms": data["marketing_sms"], "marketing_email": data["marketing_email"],
        }

    @classmethod
    def initial_for(cls, member: Member) -> dict[str, Any]:
        return {
            "name": member.name, "phone": format_phone(member.phone) if member.phone else "",
            "email": member.email, "birthday": member.birthday,
            "channel": member.channel, "home_store": member.home_store_id,
            "marketing_sms": member.marketing_sms, "marketing_email": member.marketing_email,
        }


class MemberAddForm(MemberIdentityForm):
    """A new member, typed in by staff (an offline customer at a store, a phone sign-up)."""

    field_order = ["external_id", "name", "phone", "email", "birthday", "channel", "home_store", "referrer_code"]

    external_id = forms.CharField(
        label=_("external id"), max_length=64,
        help_text=_("The shop's customer id; for an offline customer, the POS customer number"),
    )
    referrer_code = forms.CharField(label=_("referral code of the referrer"), max_length=16, required=False)

    def clean_external_id(self) -> str:
        external_id = self.cleaned_data["external_id"].strip()
        if Member.objects.filter(external_id=external_id).exists():
            raise forms.ValidationError(_("A member with this external id already exists."))
        return external_id

    def service_arguments(self) -> dict[str, Any]:
        return {
            **super().service_arguments(),
            "external_id": self.cleaned_data["external_id"],
            "referrer_code": self.cleaned_data["referrer_code"].strip() or None,
        }


class MemberStatusForm(forms.Form):
    status = forms.ChoiceField(
        label=_("status"), choices=[(status.value, status.label) for status in STAFF_STATUSES]
    )
    reason = forms.CharField(label=_("reason"), max_length=200)


class TierFloorForm(forms.Form):
    tier = forms.ModelChoiceField(label=_("tier"), queryset=Tier.objects.filter(is_active=True).order_by("rank"))
    until = forms.DateField(
        label=_("until"), widget=DATE_WIDGET, help_text=_("The member keeps at least this tier until this date")
    )
    reason = forms.CharField(label=_("reason"), max_length=150)

    def clean_until(self) -> Any:
        until = self.cleaned_data["until"]
        if until <= timezone.localdate():
            raise forms.ValidationError(_("The end date must be after today."))
        return until


class ReferrerForm(forms.Form):
    referrer_code = forms.CharField(label=_("referral code of the referrer"), max_length=16)


class MergeFindForm(forms.Form):
    phone = forms.CharField(
        label=_("phone"), max_length=30, help_text=_("The duplicate's phone number, in any notation")
    )

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhoneNumber:
            raise forms.ValidationError(_("Enter a valid Korean phone number.")) from None


class MergeConfirmForm(forms.Form):
    source = forms.IntegerField(widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label=_("I checked that both records are the same person"), required=True
    )


class ExportForm(forms.Form):
    reason = forms.CharField(
        label=_("reason for the export"), max_length=300, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Recorded in the personal-data access log, e.g. the member's data access request no. 123"),
    )
