"""One generic registry for every pluggable family (optimizers, schedulers, presets, ...).

A registry names no module of justfit's. One whose built-in entries live in the catalogue (packaged data
sets, model presets) is given the catalogue's module *name* (``builtins``) and imports it on first use, so
``import justfit`` stays light and the core never imports the catalogue (as timm fills its model registry
from the modules that define the models)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from justfit.errors import ConfigError, JustfitError, did_you_mean, unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects. An unknown name raises an error listing the valid ones.

    ``builtins``: the dotted name of a module that registers the built-in entries, imported once, when the
    registry is first read (not when it is written to)."""

    def __init__(self, kind: str, builtins: str | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}
        self._builtins = builtins

    def _fill(self) -> None:
        if self._builtins is not None:
            module, self._builtins = self._builtins, None  # once, and not again while it is being imported
            importlib.import_module(module)

    def register(self, name: str, obj: T | None = None, *, help: str = "") -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(o: T) -> T:
            key = name.lower()
            if key in self._items:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[key] = o
            doc = help or (getattr(o, "__doc__", None) or "").strip().splitlines()
            self._help[key] = help if help else (doc[0] if doc else "")
            return o

        return add(obj) if obj is not None else add

    def get(self, name: str) -> T:
        """The object registered as ``name`` (any case). Raises ``ConfigError`` (:meth:`unknown`) otherwise."""
        self._fill()
        key = str(name).lower()
        if key not in self._items:
            raise self.unknown(name)
        return self._items[key]

    def unknown(self, name: object, error: type[JustfitError] = ConfigError) -> JustfitError:
        """The one-line error for ``name``, which is not registered: the valid names and the closest one."""
        return unknown_name(self.kind, name, self.names(), error)

    def suggest(self, name: object) -> str:
        """`` Did you mean 'x'?`` for the registered name closest to ``name``, or ``''`` when none is close:
        for messages about a name that may also have been meant as something else (a file, a hub id)."""
        return did_you_mean(str(name).strip().lower(), self.names())

    def names(self) -> list[str]:
        self._fill()
        return sorted(self._items)

    def describe(self) -> dict[str, str]:
        self._fill()
        return {k: self._help[k] for k in self.names()}

    def __contains__(self, name: object) -> bool:
        self._fill()
        return str(name).lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
