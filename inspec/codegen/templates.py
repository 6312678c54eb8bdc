"""The jinja environment: templates/ at the top of the repository, or inspec/templates in a wheel."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2


def template_dir() -> Path:
    pkg = Path(__file__).resolve().parent.parent
    for d in (pkg / "templates", pkg.parent / "templates"):
        if (d / "module.py.j2").is_file():
            return d
    raise FileNotFoundError(f"inspec's code templates are missing (looked in {pkg / 'templates'})")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    from .emit import call

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["call"] = call
    return env
