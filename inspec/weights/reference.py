"""Reference models named on the command line, imported only when asked for.

    torchvision:NAME         torchvision.models.get_model(NAME, weights=None)
    timm:NAME                timm.create_model(NAME, pretrained=False)
    package.module:factory   importlib.import_module("package.module").factory()

Each may add arguments as Python literals, passed on to the call: `torchvision:googlenet(aux_logits=False)`,
`timm:inception_v4(num_classes=10)`. Nothing is downloaded: the references are built with random
weights. A reference that cannot be had (a malformed REF, a package that is not installed, an unknown
model, a factory that fails) raises ReferenceUnavailable, whose message is one line.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

FORMS = "torchvision:NAME, timm:NAME or package.module:factory"
_REF = re.compile(
    r"(?P<lib>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):(?P<name>[A-Za-z_][\w.\-]*)(?:\((?P<args>.*)\))?",
    re.DOTALL,
)


@dataclass(frozen=True)
class Reference:
    text: str
    library: str  # "torchvision", "timm" or a module path
    name: str  # a model name or a factory (attribute path) in the module
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


def _unavailable(message: str):
    from inspec.weights.errors import ReferenceUnavailable

    return ReferenceUnavailable(message)


def parse(text: str) -> Reference:
    """REF as a Reference, or ReferenceUnavailable when it is not one of the forms."""
    m = _REF.fullmatch(text.strip())
    if m is None:
        raise _unavailable(
            f"reference {text!r}: expected {FORMS}, optionally with arguments as in "
            "torchvision:googlenet(aux_logits=False)"
        )
    args: tuple = ()
    kwargs: dict[str, Any] = {}
    if m["args"] is not None and m["args"].strip():
        try:
            call = ast.parse(f"f({m['args']})", mode="eval").body
            assert isinstance(call, ast.Call)
            args = tuple(ast.literal_eval(a) for a in call.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
            if len(kwargs) != len(call.keywords):
                raise ValueError("**")
        except (SyntaxError, ValueError, TypeError, AssertionError, RecursionError):
            raise _unavailable(
                f"reference {text!r}: its arguments must be Python literals, as in "
                "torchvision:googlenet(aux_logits=False)"
            ) from None
    return Reference(text.strip(), m["lib"], m["name"], args, kwargs)


def _import(module: str, ref: Reference):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name in (top, module) or (e.name and module.startswith(e.name + ".")):
            if ref.library in ("torchvision", "timm"):
                raise _unavailable(
                    f"reference {ref.text!r} needs the package '{top}', which is not installed "
                    f"(pip install {top})"
                ) from None
            raise _unavailable(
                f"reference {ref.text!r}: cannot import {module}: no module named {e.name!r}"
            ) from None
        raise _unavailable(f"reference {ref.text!r}: importing {module} failed: {e}") from None
    except Exception as e:
        raise _unavailable(
            f"reference {ref.text!r}: importing {module} failed: {type(e).__name__}: {_line(e)}"
        ) from None


def _line(e: BaseException) -> str:
    text = str(e).strip().split("\n", 1)[0]
    return text if len(text) <= 300 else text[:300] + "…"


def build(ref: Reference | str):
    """The reference model (an nn.Module, with random weights)."""
    import torch

    ref = parse(ref) if isinstance(ref, str) else ref
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and init notices of the libraries
        if ref.library == "torchvision":
            models = _import("torchvision.models", ref)

            def factory(*a, **k):
                return models.get_model(ref.name, *a, weights=None, **k)

        elif ref.library == "timm":
            timm = _import("timm", ref)

            def factory(*a, **k):
                return timm.create_model(ref.name, *a, pretrained=False, **k)

        else:
            factory = _import(ref.library, ref)
            for part in ref.name.split("."):
                factory = getattr(factory, part, None)
                if factory is None:
                    raise _unavailable(f"reference {ref.text!r}: {ref.library} has no {ref.name}")
            if not callable(factory):
                raise _unavailable(f"reference {ref.text!r}: {ref.name} is not callable")
        try:
            model = factory(*ref.args, **ref.kwargs)
        except Exception as e:
            raise _unavailable(
                f"reference {ref.text!r}: building it failed: {type(e).__name__}: {_line(e)}"
            ) from None
    if not isinstance(model, torch.nn.Module):
        raise _unavailable(
            f"reference {ref.text!r} is {_a(type(model).__name__)}, not a torch.nn.Module"
        )
    return model


def _a(word: str) -> str:
    """word with its indefinite article: an int, a list."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
