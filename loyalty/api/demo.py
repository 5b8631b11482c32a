"""The widget demo page: staff see the real widget render a member's card."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language

from members.models import Member, MemberStatus

from ..models import ApiKey, ApiScope
from .keys import api_key_create, widget_token_issue

DEMO_KEY_NAME = "Widget demo (admin)"


@staff_member_required
def widget_demo(request: HttpRequest) -> HttpResponse:
    external_id = request.GET.get("external_id", "").strip()
    members = Member.objects.filter(status=MemberStatus.ACTIVE)
    member = members.filter(external_id=external_id).first() if external_id else members.order_by("pk").first()
    if member is None:
        raise Http404("No member to show: load the demo data or create a member first.")
    key = ApiKey.objects.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True).first()
    if key is None:
        key = api_key_create(name=DEMO_KEY_NAME, scopes=[ApiScope.MEMBERS_READ]).key
    token, _ = widget_token_issue(member_id=member.pk, key=key)
    return render(request, "widget/demo.html",
                  {"member": member, "token": token, "lang": (get_language() or "ko")[:2]})
