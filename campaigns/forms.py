"""Forms of the campaigns admin: list-valued JSON fields edited as plain text.

Product SKUs, categories, activity types and channels are JSON lists of strings on the model.
An operator types them one per line or separated by commas (or pastes a column from a
spreadsheet) and reads them back the same way, never as ``["A1","B2"]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from members.models import Channel

from .models import Campaign

SEPARATORS = re.compile(r"[,\n\r\t]")
ITEM_MAX_LENGTH = 100


def list_normalised(items: Iterable[Any]) -> list[str]:
    """Stripped, empty values dropped, each value once (the first occurrence keeps its place)."""
    seen: dict[str, None] = {}
    for item in items:
        text = str(item).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)


class ListField(forms.Field):
    """A list of short values typed one per line or separated by commas, kept as a JSON list.

    Values are normalised (:func:`list_normalised`); with ``choices`` every value must be one
    of them (a typo would otherwise silently match nothing). A pasted JSON list is read as
    its items, so what the old raw-JSON form showed still round-trips.
    """

    widget = forms.Textarea
    default_error_messages = {
        "too_long": _("“%(value)s” is longer than %(max)d characters."),
        "unknown": _("Unknown values: %(values)s. Choose from: %(choices)s."),
    }

    def __init__(self, *, choices: Iterable[tuple[str, Any]] | None = None,
                 item_max_length: int = ITEM_MAX_LENGTH, encoder: Any = None, decoder: Any = None,
                 **kwargs: Any) -> None:
        # encoder/decoder: what a model JSONField passes to its form field; a list of strings needs neither
        self.choices = dict(choices) if choices is not None else None
        self.item_max_length = item_max_length
        own_help = (_("One per line, or separated by commas.") if self.choices is None else
                    format_lazy("{} {}", _("One per line, or separated by commas, from:"),
                                ", ".join(self.choices)))
        model_help = kwargs.get("help_text")
        kwargs["help_text"] = format_lazy("{} {}", model_help, own_help) if model_help else own_help
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {**super().widget_attrs(widget), "rows": 3, "cols": 40}

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        if isinstance(value, list | tuple):
            return list_normalised(value)
        text = str(value)
        if text.lstrip().startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list) and all(isinstance(item, str | int) for item in parsed):
                return list_normalised(parsed)
        return list_normalised(SEPARATORS.split(text))

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        errors = [ValidationError(self.error_messages["too_long"], code="too_long",
                                  params={"value": item, "max": self.item_max_length})
                  for item in value if len(item) > self.item_max_length]
        if self.choices is not None:
            unknown = [item for item in value if item not in self.choices]
            if unknown:
                errors.append(ValidationError(self.error_messages["unknown"], code="unknown",
                                              params={"values": ", ".join(unknown),
                                                      "choices": ", ".join(self.choices)}))
        if errors:
            raise ValidationError(errors)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        try:
            return self.to_python(initial) != self.to_python(data)
        except ValidationError:
            return True


class ChannelListField(ListField):
    """A list of sales channels (online, offline): any other value would target nobody."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Channel.choices, **kwargs)


class CampaignForm(forms.ModelForm):  # type: ignore[type-arg]
    """The campaign's draft form: its lists as text, the channels checked against the known ones."""

    class Meta:
        model = Campaign
        fields = ("name", "kind", "status", "starts_at", "ends_at", "multiplier", "bonus_points", "rate_points",
                  "rate_amount", "skus", "categories", "min_amount", "activity_types", "validity_days",
                  "mission_event", "mission_target", "mission_period", "tiers", "channels", "stores", "segment",
                  "holdout_percent", "budget_points", "member_cap", "point_value")
        field_classes = {"skus": ListField, "categories": ListField, "activity_types": ListField,
                         "channels": ChannelListField}
