"""API keys in the admin: created with the secret shown once, revoked, never edited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from audit.admin import AuditHistoryMixin
from audit.tracking import change_record

from ..api.keys import api_key_create, api_key_revoke
from ..models import ApiKey, ApiScope


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"), choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple,
        initial=list(ApiScope.values),
    )
    allowed_origins = forms.CharField(
        label=_("allowed CORS origins"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One origin per line, e.g. https://shop.example.com"),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "store", "allowed_origins", "throttle_rate"]

    def clean_allowed_origins(self) -> list[str]:
        origins = [line.strip().rstrip("/") for line in self.cleaned_data["allowed_origins"].splitlines()]
        origins = [o for o in origins if o]
        bad = [o for o in origins if not o.startswith(("https://", "http://"))]
        if bad:
            raise forms.ValidationError(_("Origins start with https:// or http://: %(bad)s") % {"bad": ", ".join(bad)})
        return origins

    def clean_throttle_rate(self) -> str:
        rate = self.cleaned_data["throttle_rate"].strip()
        count, _, period = rate.partition("/")
        if not count.isdigit() or not period or period[0] not in "smhd":
            raise forms.ValidationError(_("Write the rate like 1200/min or 10/s."))
        return rate


@admin.register(ApiKey)
class ApiKeyAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "prefix", "scope_list", "store", "created_at", "last_used_at", "revoked_at")
    list_filter = ("store",)
    search_fields = ("name", "prefix")
    actions = ["revoke"]
    readonly_fields = ("name", "prefix", "scopes", "store", "allowed_origins", "throttle_rate", "created_at",
                       "created_by", "last_used_at", "revoked_at")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ApiKeyCreateForm.Meta.fields

    @admin.display(description=_("scopes"))
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes or [])

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the key's history stays readable

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return
        issued = api_key_create(
            name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"], store=form.cleaned_data["store"],
            allowed_origins=form.cleaned_data["allowed_origins"], created_by=request.user,
        )
        if issued.key.throttle_rate != form.cleaned_data["throttle_rate"]:
            issued.key.throttle_rate = form.cleaned_data["throttle_rate"]
            issued.key.save(update_fields=["throttle_rate"])  # saved, so the audit trail has it
        obj.pk = issued.key.pk
        request._dangol_new_key = issued.plaintext  # type: ignore[attr-defined]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """Show the secret on a page of its own, once; it is in no cookie, message or log."""
        key = ApiKey.objects.get(pk=obj.pk)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "key": key,
                   "plaintext": getattr(request, "_dangol_new_key", ""), "title": _("API key created")}
        return TemplateResponse(request, "admin/loyalty/apikey/created.html", context)

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key)
            # The service revokes with a queryset update, which the audit trail cannot see.
            change_record(key, {"revoked_at": (None, key.revoked_at)})
            count += 1
        self.message_user(request, _("%(count)d key(s) revoked.") % {"count": count}, messages.SUCCESS)
