"""Naming, in one place: spec labels -> scoped names (= module paths) -> Python identifiers."""

from __future__ import annotations

import keyword
import re

_RESERVED = set(keyword.kwlist) | {
    "forward",
    "training",
    "train",
    "eval",
    "parameters",
    "modules",
    "children",
    "state_dict",
    "to",
    "cuda",
    "cpu",
    "type",
    "float",
    "double",
    "half",
    "apply",
    "buffers",
    "zero_grad",
    "register_buffer",
    "register_module",
    "add_module",
    "get_submodule",
    "named_modules",
    "requires_grad_",
    "extra_repr",
    "dump_patches",
    "call_super_init",
    "torch",
    "nn",
    "F",
    "x",
}


def ident(text: str) -> str:
    """A Python identifier from a spec label or name."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", text)
    if not s or s[0].isdigit():
        s = "_" + s
    if s in _RESERVED:
        s += "_"
    return s


def scoped_name(base: str, label: str | None, counters: dict[str, int]) -> str:
    """A row's name in its scope: from its label (`(3a)` on `inception` gives `inception3a`), else the
    op or block name numbered within the scope (`conv1`, `conv2`, ...)."""
    if label is not None:
        return ident(label if label[0].isalpha() or label[0] == "_" else base + label)
    counters[base] = counters.get(base, 0) + 1
    return ident(f"{base}{counters[base]}")
