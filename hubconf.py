"""torch.hub entry points: every spec shipped in specs/ (specs/*.isp, specs/zoo/*.isp and
specs/examples/*.isp), named after its file, built by inspec.build.

    model = torch.hub.load("path/to/inspec", "inception_v4", source="local", num_classes=10)
    model = torch.hub.load(repo, "googlenet", source="local", weights="ckpt.pt", aux_logits=False)

Keyword arguments are the spec's network parameters (`-p NAME=VALUE` of the command line), plus
`weights` (a checkpoint loaded by key and strictly, see docs/weights.md). No weights are downloaded:
the specs ship without any. A spec with errors raises inspec.SpecErrors, its diagnostics rendered
as `inspec check` prints them (specs/examples/inception_resnet_v2_paper.isp is such an example).
"""

from __future__ import annotations

from pathlib import Path as _Path

dependencies = ["torch", "lark", "jinja2"]

_SPECS = _Path(__file__).resolve().parent / "specs"
_FOLDERS = (_SPECS, _SPECS / "zoo", _SPECS / "examples")


def _summary(path: _Path) -> str:
    """The first paragraph of the spec's opening comment (what the network is)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line[1:].strip() if line.startswith("#") else ""
        if not text:
            break
        lines.append(text)
    return " ".join(lines) or f"The network of {path.name}."


def _entry(path: _Path):
    def entry(*, weights=None, **params):
        import inspec

        return inspec.build(path, weights=weights, **params)

    entry.__name__ = entry.__qualname__ = path.stem
    rel = path.relative_to(_SPECS.parent).as_posix()
    entry.__doc__ = (
        f"{_summary(path)}\n\nBuilt from {rel} by inspec.build(spec, weights=None, **params): "
        "keyword arguments are the spec's network parameters."
    )
    return entry


def _entries() -> dict:
    found = {}
    for folder in _FOLDERS:
        for path in sorted(folder.glob("*.isp")):
            if path.stem.isidentifier() and not path.stem.startswith("_"):
                found.setdefault(path.stem, _entry(path))
    return found


globals().update(_entries())
