"""Naming, in one place: spec labels -> scoped names (= module paths) -> Python identifiers.

A row's name in its scope is its label (`conv (conv1) ...`; a label starting with a digit joins the
row's type: `inception (3a)` is `inception3a`), or else its type, numbered only where the scope has more
than one (`maxpool1`, `maxpool2`; a single dropout is `dropout`). Branches are named by their `branch
NAME`, or by position (`branch1`, `branch2`, ...). A branch of one unlabelled layer is that layer
(torchvision's `inception3a.branch1.conv`); a branch of unlabelled rows is a sequence whose rows are
numbered (`branch2.0`, `branch2.1`); any other branch (one that holds labelled or conditional rows,
branches or a residual) is flattened into its scope: its rows are `BRANCH_ROW` (`branch1_0`), except
that a name the spec gave (a label starting with a letter, or a nested branch's name) stands alone
(`branch1_1a` for `branch branch1_1a { ... }` inside `branch1`), as torchvision and timm name them.

Every scoped name is a Python identifier that a generated `nn.Module` can use as an attribute: the same
string is the table's layer path, the diagram's node id and the module's path in `named_modules()`.
"""

from __future__ import annotations

import builtins
import keyword
import re

# Attributes and methods of torch.nn.Module (torch 2.13; tests/test_naming.py checks this list against
# the installed torch): a submodule of one of these names would shadow it.
MODULE_ATTRIBUTES = frozenset(
    """
    T_destination _apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl
    _forward_hooks _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
    _forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks _get_name
    _is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks _load_state_dict_pre_hooks
    _maybe_warn_non_full_backward_hook _modules _named_members _non_persistent_buffers_set _parameters
    _register_load_state_dict_pre_hook _register_state_dict_hook _replicate_for_data_parallel
    _save_to_state_dict _slow_forward _state_dict_hooks _state_dict_pre_hooks _version
    _wrapped_call_impl add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad
    """.split()
)

# Names the generated module itself uses: its imports, helper names, and method-local names.
GENERATED = frozenset(
    {"self", "torch", "nn", "F", "Tensor", "NamedTuple", "Optional", "x", "in_channels"}
    | {"activation", "whole", "inspec_source"}
)

# One reserved-word list: no spec name may become any of these as a Python identifier.
RESERVED = frozenset(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | set(dir(builtins))
    | MODULE_ATTRIBUTES
    | GENERATED
    | {"l", "O", "I"}  # ambiguous names (pycodestyle E741): `l_` instead
)


def ident(text: str, taken=frozenset()) -> str:
    """The one sanitiser: a Python identifier for a spec name or label that is no reserved word, no
    dunder and not in `taken` (a trailing underscore is added until it is free)."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", text)
    if not s or s[0].isdigit():
        s = "_" + s
    if s.startswith("__"):
        s = s.lstrip("_") or "v"
    while s in RESERVED or s in taken:
        s += "_"
    return s


def template_label(label: str | None) -> tuple[str | None, int]:
    """A repeat's label that names its instances, split into the instances' prefix (as written)
    and the first number: `denselayer1..` is ('denselayer', 1), `block1-0..` is ('block1-', 0);
    (None, 1) for any other label."""
    m = re.fullmatch(r"(.*?)([0-9]+)\.\.", label or "")
    if m is None or not m.group(1):
        return None, 1
    return m.group(1), int(m.group(2))


def child_key(node_name: str, label: str | None) -> str:
    """A labelled row's name as a child of a seq whose rows are all labelled (an nn.Sequential of an
    OrderedDict): the label as written where it is a module name but no Python identifier
    (`block1-0`, as torchvision's add_module(f"block{i}-{j}")), else its scoped name."""
    if label and "." not in label and not label.isidentifier() and label[0].isalpha():
        return label
    return node_name


def standalone(label: str | None) -> bool:
    """Whether a label names its row on its own (`conv1`) rather than joining its type (`3a`)."""
    return label is not None and (label[0].isalpha() or label[0] == "_")


def scoped_name(base: str, label: str | None, counters: dict[str, int]) -> str:
    """A row's name in its scope: from its label (`(3a)` on `inception` gives `inception3a`), else the
    op or block name numbered within the scope (`conv1`, `conv2`, ...; see `collapse`)."""
    if label is not None:
        return ident(label if standalone(label) else base + label)
    counters[base] = counters.get(base, 0) + 1
    return ident(f"{base}{counters[base]}")


def collapse(made: list[tuple[object, str]], taken) -> None:
    """Numbers only where names collide: a base the scope generated once (`dropout1`) loses its
    number (`dropout`) unless that name is taken. `made` holds (node, base) of generated names."""
    count: dict[str, int] = {}
    for _, base in made:
        count[base] = count.get(base, 0) + 1
    for node, base in made:
        name = ident(base)
        if count[base] == 1 and name not in taken:
            node.name = name


def member(scope: str, flat: str, name: str, alone: bool) -> str:
    """The path of a row: `scope` is the dotted path of the module holding it ('' or 'm.'), `flat` the
    prefix of the flattened branches around it ('' or 'branch1_'); `alone` for a name the spec gave."""
    local = name if alone or not flat else flat + name
    if local.startswith("__"):  # `self.__x` would be name-mangled in the generated class
        local = "_" + local.lstrip("_")
    return scope + local


def unique(base: str, taken: list[str] | set[str]) -> str:
    """`base`, or `base_2`, `base_3`, ... if taken; the name is added to `taken`."""
    s, k = base, 2
    while s in taken:
        s, k = f"{base}_{k}", k + 1
    if isinstance(taken, set):
        taken.add(s)
    else:
        taken.append(s)
    return s


def class_name(name: str) -> str:
    """A class name from a network or block name: `inception_a` -> `InceptionA`."""
    parts = [p for p in name.split("_") if p]
    s = "".join(p[:1].upper() + p[1:] for p in parts) or "Block"
    return s if s[0].isalpha() else "B" + s
