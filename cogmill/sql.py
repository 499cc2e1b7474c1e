"""The few statements every run makes, on the cursor rather than through the query builder.

The ORM builds each query anew from Python objects on every call; for the one-row statements a
prediction makes that costs several times the database's own work (bench/README.md, the fast sync
path). The statements here are written once, with table and column names taken from the models,
every value adapted by its own field and every column read back through the converters the ORM
would apply, so the rows come back as the model instances the ORM would have made, on SQLite and
PostgreSQL alike.
"""

import functools
from collections.abc import Iterable, Sequence

from django.db import connections
from django.db.models import Model

DEFAULT = "default"


def quote(name: str, using: str = DEFAULT) -> str:
    return connections[using].ops.quote_name(name)


class Table:
    """A model's columns under an alias in a SELECT (or a RETURNING), and how a row of them becomes
    an instance. Columns in `leave_out` are not read: the instance has them deferred."""

    def __init__(self, model: type[Model], alias: str = "", leave_out: Iterable[str] = (), shared: Iterable[str] = ()):
        """`shared`: columns whose value is made once per process for each text the database returns
        (a ready version's schema, say, parsed anew on every run otherwise) and the same object then
        given to every instance: read-only."""
        self.model = model
        self.alias = alias
        left_out = set(leave_out)
        self.fields = [f for f in model._meta.concrete_fields if f.attname not in left_out]
        self.attnames = [f.attname for f in self.fields]
        self.width = len(self.fields)
        self.shared = frozenset(shared)
        self._columns: dict[str, str] = {}

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    def columns(self, using: str = DEFAULT) -> str:
        """Its columns, as a SELECT lists them (made once per database)."""
        if using not in self._columns:
            prefix = f"{quote(self.alias, using)}." if self.alias else ""
            self._columns[using] = ", ".join(prefix + quote(f.column, using) for f in self.fields)
        return self._columns[using]

    def instance(self, values: Sequence, using: str = DEFAULT) -> Model:
        """The instance of one row's values (this table's columns, in order)."""
        connection = connections[using]
        converted = []
        columns = _converters_for(self.model, tuple(self.attnames), using)
        for attname, (col, converters), raw in zip(self.attnames, columns, values, strict=True):
            if attname in self.shared and isinstance(raw, str):
                raw = _shared(self.model, attname, raw, using)
            else:
                for converter in converters:
                    raw = converter(raw, col, connection)
            converted.append(raw)
        return self.model.from_db(using, self.attnames, converted)

    def instances(self, row: Sequence, *tables: "Table", using: str = DEFAULT) -> list[Model]:
        """Split a joined row into this table's instance and each following table's (None where a
        LEFT JOIN found no row)."""
        found, start = [], 0
        for table in (self, *tables):
            values = row[start:start + table.width]
            start += table.width
            pk = table.model._meta.pk.attname
            found.append(None if values[table.attnames.index(pk)] is None else table.instance(values, using))
        return found


@functools.cache
def _field(model: type[Model], attname: str):
    for field in model._meta.concrete_fields:
        if field.attname == attname:
            return field
    raise ValueError(f"{model._meta.label} has no column {attname!r}")


def _converters_for(model: type[Model], attnames: tuple[str, ...], using: str) -> list:
    """Each column's expression and converters, as the ORM applies them to a row. Found once per
    connection (the backend's converters are its methods) and kept on it, so they go with it."""
    connection = connections[using]
    kept = connection.__dict__.setdefault("_cogmill_converters", {})
    key = (model, attnames)
    if key not in kept:
        found = []
        for attname in attnames:
            field = _field(model, attname)
            col = field.get_col(model._meta.db_table)
            found.append((col, connection.ops.get_db_converters(col) + field.get_db_converters(connection)))
        kept[key] = found
    return kept[key]


@functools.lru_cache(maxsize=256)
def _shared(model: type[Model], attname: str, raw: str, using: str):
    """A `shared` column's value for this text: made by its converters once, then kept."""
    return read(model, attname, raw, using)


def read(model: type[Model], attname: str, raw, using: str = DEFAULT):
    """One column's value as the database returned it, as the ORM would give it."""
    ((col, converters),) = _converters_for(model, (attname,), using)
    for converter in converters:
        raw = converter(raw, col, connections[using])
    return raw


def value(model: type[Model], attname: str, python_value, using: str = DEFAULT, saving: bool = False):
    """A Python value as its field sends it to this database (in a WHERE, or with `saving` in a
    SET or VALUES)."""
    field = _field(model, attname)
    connection = connections[using]
    if saving:
        return field.get_db_prep_save(python_value, connection)
    return field.get_db_prep_value(python_value, connection, prepared=False)


def fetch(sql: str, params: Sequence, using: str = DEFAULT) -> list[tuple]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def update(model: type[Model], values: dict, where: dict, returning: Table | None = None,
           condition: str = "", condition_params: Sequence = (), using: str = DEFAULT) -> int | list[Model]:
    """UPDATE the rows of `model` matching every item of `where` (a column = a value; a tuple, list
    or set: IN; None: IS NULL) and `condition` (SQL, with `condition_params`) with `values`: the
    number of rows, or with `returning` the rows as they are after it."""
    table = quote(model._meta.db_table, using)
    sets, params = [], []
    for attname, new in values.items():
        sets.append(f"{column(model, attname, using)} = %s")
        params.append(value(model, attname, new, using, saving=True))
    sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {_where(model, where, params, using)}"
    if condition:
        sql += f" AND ({condition})"
        params.extend(condition_params)
    if returning is None:
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
    rows = fetch(f"{sql} RETURNING {returning.columns(using)}", params, using)
    return [returning.instance(row, using) for row in rows]


def column(model: type[Model], attname: str, using: str = DEFAULT) -> str:
    return quote(_field(model, attname).column, using)


def _where(model: type[Model], where: dict, params: list, using: str) -> str:
    terms = []
    for attname, wanted in where.items():
        name = column(model, attname, using)
        if wanted is None:
            terms.append(f"{name} IS NULL")
        elif isinstance(wanted, tuple | list | set | frozenset):
            if not wanted:
                raise ValueError(f"no value to match {attname!r} against")
            terms.append(f"{name} IN ({', '.join(['%s'] * len(wanted))})")
            params.extend(value(model, attname, item, using) for item in wanted)
        else:
            terms.append(f"{name} = %s")
            params.append(value(model, attname, wanted, using))
    return " AND ".join(terms)


def insert(instance: Model, using: str = DEFAULT, unless_taken: Sequence[str] = ()) -> Model | None:
    """INSERT a new instance as `save()` would (its fields' defaults and pre_save, a database-made
    primary key set on it): for the rows every run adds. Signals are not sent; a model that needs
    them is not written here. With `unless_taken` (the columns of a unique constraint), a row that
    would break it is not written: None (ON CONFLICT DO NOTHING, no error to recover from)."""
    meta = type(instance)._meta
    if meta.parents:
        raise TypeError(f"{meta.label} inherits another model's table: save() it")
    connection = connections[using]
    fields = [f for f in meta.local_concrete_fields if not (f.primary_key and getattr(instance, f.attname) is None)]
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    statement = (f"INSERT INTO {quote(meta.db_table, using)} ({', '.join(quote(f.column, using) for f in fields)}) "
                 f"VALUES ({', '.join(['%s'] * len(fields))})")
    if unless_taken:
        statement += f" ON CONFLICT ({', '.join(column(type(instance), name, using) for name in unless_taken)}) DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(f"{statement} RETURNING {quote(meta.pk.column, using)}", params)
        made = cursor.fetchone()
    if made is None:
        return None
    setattr(instance, meta.pk.attname, made[0])
    instance._state.adding = False
    instance._state.db = using
    return instance
