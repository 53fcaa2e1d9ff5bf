"""The registries the configuration validates names against, declared where every layer can read them.

A registry imports nothing of justfit's: the module named by ``builtins`` registers the built-in entries and
is imported when the registry is first read (``justfit._registry.Registry``), so a config can be checked
before any task or cleaning code has been imported by hand."""

from __future__ import annotations

from typing import Any

from justfit._registry import Registry

# Task name -> task class (``justfit.tasks.base.BaseTask`` subclasses), registered by the task plug-ins.
TASKS: Registry[type] = Registry("task", builtins="justfit.tasks.builtin")

# Cleaning rule name -> ``rule(frame, options) -> Found`` (``justfit.data.cleaning``).
CLEANING_RULES: Registry[Any] = Registry("cleaning rule", builtins="justfit.data.cleaning")
