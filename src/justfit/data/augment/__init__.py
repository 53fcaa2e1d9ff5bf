"""Data augmentation, applied on the fly to the training split only.

Each kind of input registers its operations here (``OPERATIONS``: the input kind, e.g. a task's
``modality``, to the registry of its operations); the checks below name none of them. The operations
themselves live with the task plug-ins that use them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from justfit._registry import Registry
from justfit.errors import ConfigError, did_you_mean

OPERATIONS: Registry[Registry[Any]] = Registry("kind of augmented input", builtins="justfit.tasks.builtin")


def check_known(name: str, where: str = "augment.ops") -> None:
    """Raise ``ValueError`` (one line, for the config's validators) when ``name`` is no registered
    operation of any input kind, listing each kind's operations and the closest name."""
    kinds = {kind: OPERATIONS.get(kind) for kind in OPERATIONS.names()}
    if any(name in ops for ops in kinds.values()):
        return
    valid = [n for ops in kinds.values() for n in ops.names()]
    listing = "; ".join(f"{kind}: {', '.join(ops.names())}" for kind, ops in kinds.items())
    raise ValueError(f"unknown augmentation '{name}' in {where} ({listing})" + did_you_mean(name, valid))


def check_ops(ops: Sequence[str], takes: str) -> None:
    """Raise ``ConfigError`` (one line) naming the operations of ``ops`` that belong to another input kind
    than ``takes`` (a task's ``modality``), and what ``takes`` accepts. Unknown names are left to
    :func:`check_known`; an input kind with no registered operations takes none."""
    own = OPERATIONS.get(takes) if takes in OPERATIONS else Registry(f"{takes} augmentation")
    kinds = [k for k in OPERATIONS.names() if k != takes]
    others = {n: next((k for k in kinds if n in OPERATIONS.get(k)), None) for n in ops if n not in own}
    # In the order the user listed them: ['typo', 'rotate'] names text, then image.
    order = list(dict.fromkeys(k for k in others.values() if k is not None))
    found = [f"{[n for n, k in others.items() if k == kind]} are {kind} augmentations" for kind in order]
    if found:
        accepts = ", ".join(own.names()) or "no augmentation"
        raise ConfigError(f"augment.ops {' and '.join(found)}; {takes} inputs take {accepts}.")
