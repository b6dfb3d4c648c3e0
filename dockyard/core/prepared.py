"""Querysets compiled to SQL once per process and run again with new values.

For the few queries on paths that run hundreds of times a second (the runner protocol's ``jobs/request``
and job updates). There Django's SQL compiler costs far more CPU than the database: about 1.5 ms to
compile a select of a wide model on the 2-core benchmark machine, against 0.06 ms for psycopg to send a
query and read its row (measured in ``docs/decisions/0005-ci-dispatch.md``).

A :class:`Prepared` holds a function that builds the queryset from its arguments. The first call builds it
twice with different stand-in values, compiles both, and notes which of the SQL's parameters differ and
which argument each one is;
later calls put the real values there and run the same SQL through Django's cursor (so query counting,
transactions and the connection's settings are Django's). Rows become model instances (with their
``select_related`` relations) or tuples (``values_list``) with the same converters Django applies.

What a prepared query may take as arguments: ints, strings and lists of either (a list's length is part
of the compiled shape: pad a list of ids to a fixed length, see :func:`padded`). A value Django writes into the SQL
itself rather than as a parameter (booleans compared with ``=``, slices) must be fixed in the builder,
not an argument: compiling refuses a builder whose stand-in does not come out as a parameter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model, QuerySet
from django.db.models.query import (  # type: ignore[attr-defined]  # a module-level helper the stubs omit
    FlatValuesListIterable,
    ModelIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.db.transaction import TransactionManagementError

M = TypeVar("M")


def padded(values: Sequence[int], size: int) -> list[int]:
    """``values`` repeated at its last item up to ``size`` items (an ``IN`` list keeps one compiled shape)."""
    if not values:
        raise ValueError("padded() needs at least one value")
    return [*values, *([values[-1]] * (size - len(values)))]


class _Shape:
    """One compiled form of a prepared query: its SQL, where each argument goes, and how rows become objects."""

    def __init__(self, queryset: QuerySet[Any], stand_ins: list[Any], check: QuerySet[Any], others: list[Any]) -> None:
        """``queryset`` and ``check`` are the same builder's output for two sets of stand-in values: a
        parameter that differs between their SQL is an argument's; one that doesn't is fixed."""
        if queryset._known_related_objects or queryset._prefetch_related_lookups:  # type: ignore[attr-defined]
            raise ValueError("a prepared query cannot prefetch or carry known related objects")
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        other_sql, other_params = check.query.get_compiler(using=check.db).as_sql()
        if sql != other_sql or len(params) != len(other_params):
            raise ValueError(f"a prepared query's arguments must only change its SQL parameters: {sql!r}")
        self.alias = queryset.db
        self.sql = sql
        self.for_update = bool(queryset.query.select_for_update)
        where: dict[Any, tuple[int, int | None]] = {}
        for index, value in enumerate(stand_ins):
            if isinstance(value, list):
                for item_index, item in enumerate(value):
                    where[item] = (index, item_index)
            else:
                where[value] = (index, None)
        # Each parameter is either a fixed value or the position of an argument (or of one list item).
        self.slots: list[tuple[int, int | None] | None] = []
        self.fixed: list[Any] = list(params)
        seen = set()
        for param, other in zip(params, other_params, strict=True):
            slot = None
            if isinstance(param, int | str) and param != other:
                slot = where.get(param)
                if slot is None:  # a LIKE pattern made of an argument, say
                    raise ValueError(f"an argument is transformed before it reaches the SQL of {sql!r}")
                seen.add(param)
            self.slots.append(slot)  # else fixed (an adapter object such as a JSON value compares by identity)
        missing = set(where) - seen
        if missing:
            raise ValueError(f"a stand-in value is not an SQL parameter in {sql!r}: {sorted(map(str, missing))}")
        self.col_count = compiler.col_count
        self.iterable = queryset._iterable_class
        fields = [s[0] for s in compiler.select[: compiler.col_count]]
        self.converters = compiler.get_converters(fields)
        if self.iterable is ModelIterable:
            klass_info = compiler.klass_info
            assert klass_info is not None
            self.model: type[Model] = klass_info["model"]
            select_fields = klass_info["select_fields"]
            self.model_slice = slice(select_fields[0], select_fields[-1] + 1)
            self.init_list = [f[0].target.attname for f in compiler.select[self.model_slice]]
            self.klass_info = klass_info
            self.select = compiler.select
            self.annotations = dict(compiler.annotation_col_map or {})
        elif self.iterable not in (ValuesListIterable, FlatValuesListIterable):
            raise ValueError("a prepared query returns model instances or values_list() rows")
        elif queryset.query.extra_select or queryset.query.annotation_select:
            raise ValueError("a prepared values_list() takes plain fields only")

    def params(self, args: Sequence[Any]) -> list[Any]:
        out = []
        for slot, fixed in zip(self.slots, self.fixed, strict=True):
            if slot is None:
                out.append(fixed)
            else:
                value = args[slot[0]]
                out.append(value if slot[1] is None else value[slot[1]])
        return out

    def run(self, args: Sequence[Any]) -> list[Any]:
        connection = connections[self.alias]
        if self.for_update and connection.features.has_select_for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params(args))
            rows = cursor.fetchall()
        converted = [self._convert(row[: self.col_count], connection) for row in rows]
        if self.iterable is FlatValuesListIterable:
            return [row[0] for row in converted]
        if self.iterable is ValuesListIterable:
            return [tuple(row) for row in converted]
        return [self._instance(row) for row in converted]

    def _convert(self, row: Sequence[Any], connection: Any) -> list[Any]:
        values = list(row)
        for position, (converters, expression) in self.converters.items():
            value = values[position]
            for converter in converters:
                value = converter(value, expression, connection)
            values[position] = value
        return values

    def _instance(self, row: list[Any]) -> Model:
        obj = self.model.from_db(self.alias, self.init_list, row[self.model_slice])
        for populator in get_related_populators(self.klass_info, self.select, self.alias):
            populator.populate(row, obj)
        for name, position in self.annotations.items():
            setattr(obj, name, row[position])
        return obj


class Prepared(Generic[M]):
    """``build(*args)`` compiled once per argument shape; ``all(*args)`` / ``one(*args)`` run it."""

    def __init__(self, build: Callable[..., QuerySet[Any]]) -> None:
        self.build = build
        self._shapes: dict[tuple[Any, ...], _Shape] = {}
        self._lock = threading.Lock()

    def _shape(self, args: Sequence[Any]) -> _Shape:
        key = (connections[DEFAULT_DB_ALIAS].vendor, *(len(a) if isinstance(a, list) else type(a) for a in args))
        shape = self._shapes.get(key)
        if shape is None:
            with self._lock:
                shape = self._shapes.get(key)
                if shape is None:
                    stand_ins = [_stand_in(index, a, 0) for index, a in enumerate(args)]
                    others = [_stand_in(index, a, 1) for index, a in enumerate(args)]
                    shape = _Shape(self.build(*stand_ins), stand_ins, self.build(*others), others)
                    self._shapes[key] = shape
        return shape

    def all(self, *args: Any) -> list[M]:
        return self._shape(args).run(args)

    def one(self, *args: Any) -> M | None:
        rows = self.all(*args)
        return rows[0] if rows else None


def _stand_in(index: int, value: Any, variant: int) -> Any:
    """A value for argument ``index`` no other argument has; ints stay small enough for any integer
    column (Django turns an out-of-range comparison into an empty result instead of a parameter)."""
    base = 10_000 + variant * 5_000 + index * 100
    if isinstance(value, bool):
        raise TypeError("a prepared query takes no booleans: fix them in the builder")
    if isinstance(value, int):
        return base
    if isinstance(value, str):
        return f"\x1fprepared-{variant}-{index}\x1f"
    if (
        isinstance(value, list)
        and len(value) < 100
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return [base + 1 + item for item in range(len(value))]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [f"\x1fprepared-{variant}-{index}-{item}\x1f" for item in range(len(value))]
    raise TypeError(f"a prepared query takes ints, strings and lists of them, not {type(value).__name__}")


_UPDATES: dict[tuple[str, type[Model], tuple[str, ...]], str] = {}


def save_fields(obj: Model, fields: Sequence[str]) -> None:
    """``obj.save(update_fields=fields)`` for a hot path: the UPDATE's SQL is built once per model and
    field list, and values are prepared by their fields as Django would. No signals are sent (Dockyard
    connects none to the models saved this way)."""
    connection = connections[obj._state.db or DEFAULT_DB_ALIAS]
    meta = obj._meta
    targets = [meta.get_field(name) for name in fields]
    if not all(isinstance(field, Field) for field in targets):
        raise ValueError(f"save_fields() writes concrete fields only: {fields}")
    concrete = [field for field in targets if isinstance(field, Field)]
    key = (connection.alias, type(obj), tuple(fields))
    sql = _UPDATES.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        columns = ", ".join(f"{quote(str(field.column))} = %s" for field in concrete)
        sql = _UPDATES[key] = f"UPDATE {quote(meta.db_table)} SET {columns} WHERE {quote(str(meta.pk.column))} = %s"
    values = [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in concrete]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, obj.pk])
