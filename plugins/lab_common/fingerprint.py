"""Digests of build inputs: the same values give the same digest in every
process and on every run (no id(), no hash randomisation, no dict order).

`digest(*values)` takes str, bytes, numbers, bool, None, dates and times,
lists, tuples, sets, dicts and dataclass instances, nested; anything else is
refused with TypeError, because a digest that silently ignored part of its
input would let a changed page look unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import sys
from collections.abc import Iterable, Mapping
from types import ModuleType


def digest_plain(*values) -> str:
    """`digest` for values that hold only None, bool, str, bytes, numbers,
    dates and times, zones, lists, tuples and dicts built in a fixed order
    (lab_writer's `plain` makes them so): their repr is then a faithful,
    stable text of them, and hashing it runs at C speed."""
    return hashlib.blake2b(
        repr(values).encode("utf-8", "surrogatepass"), digest_size=16
    ).hexdigest()


def digest(*values) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for value in values:
        _feed(hasher, value)
    return hasher.hexdigest()


def _feed(hasher, value) -> None:
    # Every value is tagged with its type and, for containers, its length, so
    # that ("ab", "c") and ("a", "bc") differ.
    if value is None or isinstance(value, bool):
        hasher.update(b"N" if value is None else (b"T" if value else b"F"))
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        hasher.update(b"s%d:" % len(data))
        hasher.update(data)
    elif isinstance(value, bytes | bytearray):
        hasher.update(b"b%d:" % len(value))
        hasher.update(value)
    elif isinstance(value, int | float):
        hasher.update(b"n" + repr(value).encode() + b";")
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        # isoformat keeps the offset; the zone's name matters to templates
        # that print it, so it goes in too.
        tzname = getattr(value, "tzname", lambda: None)()
        hasher.update(b"d" + value.isoformat().encode() + b"|")
        _feed(hasher, tzname)
    else:
        _feed_container(hasher, value)


def _feed_container(hasher, value) -> None:
    if isinstance(value, Mapping):
        items = sorted((str(k), v) for k, v in value.items())
        hasher.update(b"m%d:" % len(items))
        for key, item in items:
            _feed(hasher, key)
            _feed(hasher, item)
    elif isinstance(value, list | tuple):
        hasher.update(b"l%d:" % len(value))
        for item in value:
            _feed(hasher, item)
    elif isinstance(value, set | frozenset):
        members = sorted(digest(item) for item in value)
        hasher.update(b"S%d:" % len(members))
        for member in members:
            hasher.update(member.encode())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        hasher.update(b"D" + type(value).__qualname__.encode() + b":")
        for field in dataclasses.fields(value):
            _feed(hasher, field.name)
            _feed(hasher, getattr(value, field.name))
    else:
        raise TypeError(f"cannot take a digest of {type(value).__qualname__}")


# -- the code a build runs

# What each module was loaded from: name -> (the module, a digest of its
# source as read when the module was first asked about).
_SOURCES: dict[str, tuple[ModuleType, str]] = {}


def module_digest(module: ModuleType) -> str:
    """A digest of the source `module` was loaded from. The file is read the
    first time a module is asked about (lab_writer asks about every module
    of ours when it registers, right after Pelican imported them) and never
    again: a file edited while a server runs must not count as the code the
    server runs, which stays the code it imported."""
    known = _SOURCES.get(module.__name__)
    if known is not None and known[0] is module:
        return known[1]
    path = getattr(module, "__file__", None)
    try:
        with open(path, "rb") as handle:
            source = handle.read()
    except (OSError, TypeError):
        source = None  # a namespace package or a module made in memory
    value = digest(module.__name__, source)
    _SOURCES[module.__name__] = (module, value)
    return value


def loaded_code_digest(prefixes: Iterable[str] = ("lab_",)) -> str:
    """A digest of the code of every loaded module whose name starts with one
    of `prefixes`, as it was when loaded (see module_digest)."""
    prefixes = tuple(prefixes)
    modules = sorted(
        (name, module)
        for name, module in list(sys.modules.items())
        if name.startswith(prefixes) and isinstance(module, ModuleType)
    )
    return digest([(name, module_digest(module)) for name, module in modules])
