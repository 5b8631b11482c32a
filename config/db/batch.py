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
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

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
        db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: each use of the proxy is a lookup
        ctes: list[str] = []
        params: list[Any] = []
        names: dict[int, str] = {}  # id() of a pending object -> the CTE that inserts it
        returning: list[tuple[str, _Insert]] = []
        for number, step in enumerate(self.steps):
            name = f"r{number}"
            table = _table(step.model)
            if isinstance(step, _Update):
                sets = ", ".join(f"{table.quoted[key]} = {self._value(table.fields[key], value, names, params, db)}"
                                 for key, value in step.values.items())
                ctes.append(f"{name} AS (UPDATE {table.name} SET {sets} WHERE {table.pk} = %s)")  # noqa: S608
                params.append(step.pk)
                continue
            given_ids = all(obj.pk is not None for obj in step.objs)  # ids taken from the sequence before
            columns = table.columns if given_ids else table.columns_without_id
            rows = []
            for obj in step.objs:
                rows.append("(" + ", ".join([self._cell(f, obj, names, params, db) for f in columns]) + ")")
                if len(step.objs) == 1:
                    names[id(obj)] = name
            column_list = ", ".join(table.quoted[f.name] for f in columns)
            ctes.append(f"{name} AS (INSERT INTO {table.name} ({column_list}) VALUES {', '.join(rows)} "  # noqa: S608
                        f"RETURNING {table.pk})")
            returning.append((name, step))
        # New ids come from the sequences in row order, so sorted they follow the VALUES order.
        select = ", ".join(
            f"(SELECT array_agg({table.pk} ORDER BY {table.pk}) FROM {name})"  # noqa: S608
            for name, step in returning if (table := _table(step.model))
        ) or "1"
        result = fetch_prepared(f"WITH {', '.join(ctes)} SELECT {select}", params)
        for (_, step), new_ids in zip(returning, result[0] if returning else (), strict=True):
            keys = _table(step.model).foreign_keys
            for obj, new_id in zip(step.objs, new_ids, strict=True):
                obj.pk = new_id
                obj._state.adding = False
                obj._state.db = db.alias
                for f in keys:  # foreign keys given an object that had no id yet
                    related = f.get_cached_value(obj, None)
                    if related is not None and getattr(obj, f.attname) is None:
                        setattr(obj, f.attname, related.pk)

    @staticmethod
    def _value(f: Any, value: Any, names: dict[int, str], params: list[Any], db: Any) -> str:
        """A value an update sets: a parameter, or for a foreign key given a row inserted earlier
        in the statement, that row's id."""
        if isinstance(value, models.Model):
            if value.pk is None:
                if id(value) not in names:
                    raise ValueError(f"{f.name} refers to a row not written before it")
                return f"(SELECT {_table(type(value)).pk} FROM {names[id(value)]})"  # noqa: S608
            value = value.pk
        params.append(f.get_db_prep_save(value, db))
        return "%s"

    @staticmethod
    def _cell(f: models.Field[Any, Any], obj: models.Model, names: dict[int, str], params: list[Any], db: Any) -> str:
        """One value of a row: a parameter, or the id of a row inserted earlier in the statement."""
        related = f.get_cached_value(obj, None) if isinstance(f, models.ForeignKey) else None  # given an object
        if related is not None and related.pk is None:
            if id(related) not in names:
                raise ValueError(f"{obj._meta.label}.{f.name} refers to a row not written before it")
            return f"(SELECT {_table(type(related)).pk} FROM {names[id(related)]})"  # noqa: S608
        value = f.pre_save(obj, add=True)
        if related is not None and value is None:  # given the object before it had an id
            value = related.pk
            setattr(obj, f.attname, value)
        params.append(f.get_db_prep_save(value, db))
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


@dataclass(frozen=True)
class _Table:
    """What a statement needs of a model's table, read once from its metadata."""

    name: str
    pk: str
    fields: dict[str, Any]  # by field name and by attribute name (``lot`` and ``lot_id``)
    quoted: dict[str, str]  # the quoted column, by the same
    columns: tuple[Any, ...]  # every local concrete field, in model order
    columns_without_id: tuple[Any, ...]  # the same without the auto id
    foreign_keys: tuple[Any, ...]  # one-to-one fields are foreign keys too


@cache
def _table(model: type[models.Model]) -> _Table:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    meta = model._meta
    columns = tuple(meta.local_concrete_fields)
    fields = {name: f for f in meta.concrete_fields for name in (f.name, f.attname)}
    return _Table(
        name=quote(meta.db_table), pk=quote(str(meta.pk.column)),
        fields=fields, quoted={name: quote(str(f.column)) for name, f in fields.items()},
        columns=columns, columns_without_id=tuple(f for f in columns if f is not meta.auto_field),
        foreign_keys=tuple(f for f in columns if isinstance(f, models.ForeignKey)),
    )
