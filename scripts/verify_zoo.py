"""Port each reference model's weights into the module inspec builds from specs/zoo/NAME.isp and
compare the outputs, in eval mode and in train mode (batch-norm batch statistics, dropout and drop
path drawn from the same seed).

Run it with the reference virtualenv's python (scripts/verify-zoo does exactly that):

    ~/.cache/inspec-ref/bin/python scripts/verify_zoo.py [--markdown] [MODEL ...]

That virtualenv is built by ../shared/tools/reference-venv.sh; the project's tests and CI never use
it (they check names, shapes and counts against tests/fixtures/zoo/ instead). For each model the
reference is built with random weights (seed 0), its state_dict is loaded into inspec's module by key
with strict=True, and both run on the same random input. The error printed is
max |inspec - reference| / max |reference| over the outputs. Exit status 1 if a model fails to load
or its error exceeds 1e-5.
"""

import warnings

warnings.filterwarnings("ignore")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from zoo_fixtures import MODELS, build  # noqa: E402

import inspec  # noqa: E402

TOLERANCE = 1e-5


def _tensors(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for t in out if t is not None]


def _error(ours, ref) -> float:
    worst = 0.0
    for a, b in zip(_tensors(ours), _tensors(ref), strict=True):
        worst = max(worst, float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)))
    return worst


def verify(name: str) -> tuple[int, float, float]:
    _, _, res = MODELS[name]
    torch.manual_seed(0)
    ref, _ = build(name)
    ours = inspec.build(ROOT / "specs" / "zoo" / f"{name}.isp")
    ours.load_state_dict(ref.state_dict(), strict=True)
    params = sum(p.numel() for p in ours.parameters())
    x = torch.randn(2, 3, res, res, generator=torch.Generator().manual_seed(1))
    errors = []
    for train in (False, True):
        ref.train(train)
        ours.train(train)
        with torch.no_grad():
            torch.manual_seed(2)
            a = ref(x.clone())
            torch.manual_seed(2)
            b = ours(x.clone())
        errors.append(_error(b, a))
    return params, errors[0], errors[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="model names (default: every specs/zoo/NAME.isp)")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args()
    names = args.models or sorted(
        p.stem for p in (ROOT / "specs" / "zoo").glob("*.isp") if p.stem in MODELS
    )
    failed = False
    rows = []
    for name in names:
        t0 = time.perf_counter()
        try:
            params, ev, tr = verify(name)
        except Exception as e:  # a model that does not load is a failure to report, not a crash
            print(f"{name}: FAILED: {type(e).__name__}: {str(e)[:2000]}", file=sys.stderr)
            failed = True
            continue
        ok = ev <= TOLERANCE and tr <= TOLERANCE
        failed |= not ok
        rows.append((name, MODELS[name][0], params, ev, tr, ok, time.perf_counter() - t0))
    if args.markdown:
        print("| model | reference | params | max rel. error, eval | max rel. error, train |")
        print("|---|---|---:|---:|---:|")
        for name, lib, params, ev, tr, _ok, _t in rows:
            print(f"| `{name}` | {lib} | {params:,} | {ev:.1e} | {tr:.1e} |")
    else:
        for name, lib, params, ev, tr, ok, t in rows:
            verdict = "ok" if ok else "DIFFERS"
            print(
                f"{name:24} {lib:12} {params:>12,}  eval {ev:.1e}  train {tr:.1e}  {verdict}"
                f"  ({t:.1f} s)"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
