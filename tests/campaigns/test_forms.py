"""List-valued campaign fields are typed as text (one per line or comma-separated), kept as a
clean JSON list and shown back the same way, never as raw JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns.forms import ChannelListField, ListField
from campaigns.models import Campaign, CampaignStatus
from tests.campaigns.conftest import launched


def test_values_are_split_on_lines_and_commas_stripped_and_deduplicated() -> None:
    field = ListField(required=False)
    assert field.clean(" A1, B2\nA1\r\n\n  C3 ,,\tD4 ") == ["A1", "B2", "C3", "D4"]
    assert field.clean("") == [] and field.clean("  \n , ") == []


def test_a_pasted_json_list_is_read_as_its_items() -> None:
    assert ListField(required=False).clean('["A1", "B2", "A1", " "]') == ["A1", "B2"]
    assert ListField(required=False).clean("[sale] shoes") == ["[sale] shoes"]  # not JSON: a value


def test_the_list_is_shown_one_per_line() -> None:
    field = ListField(required=False)
    assert field.prepare_value(["A1", "B2"]) == "A1\nB2"
    assert field.prepare_value("A1, B2") == "A1, B2"  # what was typed, on a form shown again


def test_a_required_list_refuses_only_blanks() -> None:
    with pytest.raises(ValidationError) as refused:
        ListField(required=True).clean(" , \n")
    assert refused.value.code == "required"


def test_too_long_and_unknown_values_are_errors_naming_them() -> None:
    with pytest.raises(ValidationError) as refused:
        ListField(required=False, item_max_length=5).clean("ok\ntoo-long-value")
    assert "too-long-value" in str(refused.value.messages)
    with pytest.raises(ValidationError) as refused:
        ChannelListField(required=False).clean("online, Offline, web")
    assert refused.value.messages[0].count("Offline") == 1 and "web" in refused.value.messages[0]
    assert ChannelListField(required=False).clean("offline\nonline") == ["offline", "online"]


def test_a_list_that_only_changed_in_form_is_not_a_change() -> None:
    field = ListField(required=False)
    assert not field.has_changed(["A1", "B2"], "A1, B2,\nA1")
    assert field.has_changed(["A1", "B2"], "B2, A1") and field.has_changed([], "A1")


def test_model_help_text_is_kept_before_the_how_to() -> None:
    field = Campaign._meta.get_field("activity_types").formfield(form_class=ListField)
    assert str(field.help_text).endswith(str(ListField(required=False).help_text))
    assert "birthday" in str(field.help_text)


def form_data(**fields: str) -> dict[str, str]:
    now = timezone.localtime()
    return {
        "name": "목록 필드", "kind": "bonus", "starts_at_0": (now - timedelta(days=1)).strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00", "ends_at_0": (now + timedelta(days=5)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00", "multiplier": "1.00", "bonus_points": "100", "rate_points": "0",
        "rate_amount": "0", "skus": "", "categories": "", "min_amount": "0", "activity_types": "",
        "mission_target": "0", "mission_period": "month", "channels": "", "holdout_percent": "0",
        "point_value": "1", **fields,
    }


@pytest.mark.django_db
def test_the_admin_saves_typed_lists_and_shows_them_back_one_per_line(admin_client) -> None:
    response = admin_client.post(reverse("admin:campaigns_campaign_add"), form_data(
        skus="A1, B2\nA1\n C3 ", categories="신발\n가방, 신발", channels="online", activity_types="review"))
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(name="목록 필드")
    assert campaign.skus == ["A1", "B2", "C3"] and campaign.categories == ["신발", "가방"]
    assert campaign.channels == ["online"] and campaign.activity_types == ["review"]
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "A1\nB2\nC3</textarea>" in page and "신발\n가방</textarea>" in page
    assert "[&quot;A1&quot;" not in page and '["A1"' not in page


@pytest.mark.django_db
def test_an_unknown_channel_is_a_form_error_and_nothing_is_saved(admin_client) -> None:
    response = admin_client.post(reverse("admin:campaigns_campaign_add"), form_data(channels="online, web"))
    assert response.status_code == 200
    assert [error.code for error in response.context["adminform"].form.errors.as_data()["channels"]] == ["unknown"]
    assert "web" in response.content.decode() and not Campaign.objects.filter(name="목록 필드").exists()


@pytest.mark.django_db
def test_a_launched_campaign_shows_its_lists_as_text_not_json(admin_client) -> None:
    from campaigns.models import CampaignKind

    campaign = launched(kind=CampaignKind.BONUS, bonus_points=100, skus=["A1", "B2"], categories=[])
    assert campaign.status != CampaignStatus.DRAFT
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "A1, B2" in page and "[&quot;A1&quot;" not in page
