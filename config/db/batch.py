"""New rows of several models that refer to each other, written in one round trip.

A purchase writes an operation, its lot, two ledger entries, a rule earning, the purchase and
the account's new state: seven statements through the ORM, each a round trip and a compile.
On PostgreSQL a :class:`RowBatch` sends them as one statement of data-modifying CTEs, each
INSERT taking the ids it needs from the ones before (``(SELECT id FROM r0)``), and reads every
new id back; the values are prepared by the models' own fields (``pre_save``, then
``get_db_prep_save``), so defaults, ``auto_now_add`` and JSON come out as the ORM would write
them. Elsewhere (SQLite for the quick start) the same rows are saved one by one, in order.
As with ``bulk_create``, no ``pre_save``/``post_save`` signal is sent for batched rows (the
ledger's models have none) and ``Model.save`` is not called (they do not override it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models

from .prepared import fetch_prepared


@dataclass
class _Insert:
    model: type[models.Model]
    objs: list[models.Model]


@dataclass
class _Update:
    model: type[models.Model]
    pk: Any
    values: dict[str, Any]


@dataclass
class RowBatch:
    steps: list[_Insert | _Update] = field(default_factory=list)

    def insert(self, *objs: models.Model) -> None:
        """Rows of one model, written in this order; they may refer to rows inserted before,
        when those were inserted alone (a reference names one row)."""
        if objs:
            self.steps.append(_Insert(type(objs[0]), list(objs)))

    def update(self, model: type[models.Model], pk: Any, **values: Any) -> None:
        self.steps.append(_Update(model, pk, values))

    def run(self) -> None:
        if not self.steps:
            return
        if connection.vendor == "postgresql":
            self.run_as_one_statement()
        else:
            self.run_one_by_one()
        self.steps = []

    # --- one statement (PostgreSQL) -------------------------------------------------

    def run_as_one_statement(self) -> None:
        """PostgreSQL: one statement of data-modifying CTEs, every new id read back."""
        # Only identifiers from the models' metadata are put into the text; values are parameters.
        quote = connection.ops.quote_name
        ctes: list[str] = []
        params: list[Any] = []
        names: dict[int, str] = {}  # id() of a pending object -> the CTE that inserts it
        returning: list[tuple[str, _Insert]] = []
        for number, step in enumerate(self.steps):
            name = f"r{number}"
            meta = step.model._meta
            table, pk = quote(meta.db_table), quote(str(meta.pk.column))
            if isinstance(step, _Update):
                fields: list[Any] = [meta.get_field(key) for key in step.values]
                sets = ", ".join(f"{quote(str(f.column))} = {self._value(f, value, names, params)}"
                                 for f, value in zip(fields, step.values.values(), strict=True))
                ctes.append(f"{name} AS (UPDATE {table} SET {sets} WHERE {pk} = %s)")  # noqa: S608
                params.append(step.pk)
                continue
            given_ids = all(obj.pk is not None for obj in step.objs)  # ids taken from the sequence before
            columns = [f for f in meta.local_concrete_fields if f is not meta.auto_field or given_ids]
            rows = []
            for obj in step.objs:
                rows.append("(" + ", ".join(self._cell(f, obj, names, params) for f in columns) + ")")
                if len(step.objs) == 1:
                    names[id(obj)] = name
            column_list = ", ".join(quote(str(f.column)) for f in columns)
            values = ", ".join(rows)
            ctes.append(f"{name} AS (INSERT INTO {table} ({column_list}) VALUES {values} RETURNING {pk})")  # noqa: S608
            returning.append((name, step))
        # New ids come from the sequences in row order, so sorted they follow the VALUES order.
        select = ", ".join(
            f"(SELECT array_agg({pk} ORDER BY {pk}) FROM {name})"  # noqa: S608
            for name, step in returning if (pk := quote(str(step.model._meta.pk.column)))
        ) or "1"
        result = fetch_prepared(f"WITH {', '.join(ctes)} SELECT {select}", params)
        for (_, step), new_ids in zip(returning, result[0] if returning else (), strict=True):
            for obj, new_id in zip(step.objs, new_ids, strict=True):
                obj.pk = new_id
                obj._state.adding = False
                obj._state.db = connection.alias
            for obj in step.objs:  # foreign keys given an object that had no id yet
                for f in step.model._meta.local_concrete_fields:
                    related = _related(f, obj)
                    if related is not None and getattr(obj, f.attname) is None:
                        setattr(obj, f.attname, related.pk)

    @staticmethod
    def _value(f: Any, value: Any, names: dict[int, str], params: list[Any]) -> str:
        """A value an update sets: a parameter, or for a foreign key given a row inserted earlier
        in the statement, that row's id."""
        if isinstance(value, models.Model):
            if value.pk is None:
                if id(value) not in names:
                    raise ValueError(f"{f.name} refers to a row not written before it")
                return f"(SELECT {connection.ops.quote_name(str(value._meta.pk.column))} FROM {names[id(value)]})"  # noqa: S608
            value = value.pk
        params.append(f.get_db_prep_save(value, connection))
        return "%s"

    @staticmethod
    def _cell(f: models.Field[Any, Any], obj: models.Model, names: dict[int, str], params: list[Any]) -> str:
        """One value of a row: a parameter, or the id of a row inserted earlier in the statement."""
        related = _related(f, obj)
        if related is not None and related.pk is None:
            if id(related) not in names:
                raise ValueError(f"{obj._meta.label}.{f.name} refers to a row not written before it")
            pk = connection.ops.quote_name(str(related._meta.pk.column))
            return f"(SELECT {pk} FROM {names[id(related)]})"  # noqa: S608
        value = f.pre_save(obj, add=True)
        if related is not None and value is None:  # given the object before it had an id
            value = related.pk
            setattr(obj, f.attname, value)
        params.append(f.get_db_prep_save(value, connection))
        return "%s"

    # --- one by one (other databases) ------------------------------------------------

    def run_one_by_one(self) -> None:
        """The plain ORM, a statement per row: SQLite's way, and the reference the one-statement
        way is tested against (both must write the same rows)."""
        for step in self.steps:
            if isinstance(step, _Update):
                step.model._default_manager.filter(pk=step.pk).update(**step.values)
            else:
                for obj in step.objs:
                    obj.save(force_insert=True)


def _related(f: models.Field[Any, Any], obj: models.Model) -> models.Model | None:
    """The object a foreign key was given, if it was given one (not only an id)."""
    if not isinstance(f, models.ForeignKey) or not f.is_cached(obj):  # one-to-one fields are foreign keys too
        return None
    return f.get_cached_value(obj)  # type: ignore[no-any-return]
