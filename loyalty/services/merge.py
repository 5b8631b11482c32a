"""Merging one member's points into another's (an offline member joining their online one)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from members.models import Member, MemberStatus
from members.services import member_mark_merged

from ..errors import InvalidRequest
from ..ledger import Replayed, durable, operation_begin
from ..models import EntryKind, EntrySource, Lot, OperationKind
from .outcome import Outcome


@durable
def member_points_merge(*, source: Member, target: Member, actor: Any = None) -> Outcome:
    """Move every open lot (keeping its dates) and any debt from ``source`` to ``target``.

    Both accounts are locked in id order; the source member is marked merged (by the members
    service), so it can neither earn nor spend again. A member is merged once: a replay returns
    the first result.
    """
    if source.pk == target.pk:
        raise InvalidRequest(_("A member cannot be merged into itself."))
    door = operation_begin(kind=OperationKind.MERGE, key=f"merge:{source.pk}", lock=[source.pk, target.pk],
                           request={"source": source.pk, "target": target.pk}, actor=actor)
    if isinstance(door, Replayed):
        return Outcome(door.result, created=False)
    # Statuses as read with the locks: a merge committed meanwhile must not be merged again.
    closed = (MemberStatus.MERGED, MemberStatus.WITHDRAWN)
    if door.statuses[source.pk] in closed:
        raise InvalidRequest(_("This member was already merged or has withdrawn."))
    if door.statuses[target.pk] in closed:
        raise InvalidRequest(_("Points cannot be merged into a merged or withdrawn member."))
    from_account, to_account, posting = door.account(source.pk), door.account(target.pk), door.posting
    lots = posting.lots_read(Lot.objects.filter(account=from_account, remaining__gt=0).order_by("id"))
    held = {lot.pk: lot.remaining for lot in lots}
    moved_points = posting.lots_take(lots, sum(held.values()))
    for lot in lots:
        posting.lot_create(to_account, held[lot.pk], source=EntrySource(lot.source),
                           available_on=lot.available_on, expires_on=lot.expires_on, moved_from=lot)
    debt = from_account.debt
    posting.debt_add(from_account, -debt)
    posting.debt_add(to_account, debt)
    posting.debt_settle(to_account)
    net = moved_points - debt
    description = _("Points merged from member %(source)s into %(target)s") % {
        "source": source.external_id, "target": target.external_id,
    }
    posting.move(to_account, net, kind=EntryKind.MERGE, source=EntrySource.SYSTEM,
                 counter=from_account, description=description, reference=source.external_id)
    member_mark_merged(source=source, target=target)
    result = {"source": source.external_id, "target": target.external_id, "points": net,
              "balance": posting.balance(to_account)}
    return Outcome(posting.close(result), created=True)
