"""Run `inspec verify` for every shipped spec that has a reference model, and print a markdown table.

Run it with the reference virtualenv's python (scripts/verify-weights does exactly that):

    ~/.cache/inspec-ref/bin/python scripts/verify_weights.py [--rtol R] [MODEL ...]

That virtualenv (torch CPU, torchvision, timm) is built by ../shared/tools/reference-venv.sh; the
project's tests and CI never use it. Each model is verified exactly as
`inspec verify SPEC --against REF` does it (inspec.weights.verify: the reference built with random
weights and randomised batch-norm statistics, its weights ported into the spec's module with --map
auto, both run in eval and in train mode on the same seeded input, batch 2). The references are
specs/googlenet_bn.isp, specs/inception_v4.isp and specs/inception_resnet_v2.isp's (TOP below) and
every specs/zoo/NAME.isp's (scripts/zoo_fixtures.py MODELS). Exit status 1 if a model does not load
or differs.
"""

import warnings

warnings.filterwarnings("ignore")

import argparse  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from zoo_fixtures import MODELS  # noqa: E402

from inspec.analysis.elaborate import elaborate  # noqa: E402
from inspec.weights import WeightsError  # noqa: E402
from inspec.weights.verify import RTOL, verify  # noqa: E402

# name -> (spec, REF). The released Inception-v4 and Inception-ResNet-v2 keep the paper's 20% dropout
# before the classifier, which timm builds with drop_rate=0 unless told.
TOP = {
    "googlenet_bn": ("specs/googlenet_bn.isp", "torchvision:googlenet(aux_logits=False)"),
    "inception_v4": ("specs/inception_v4.isp", "timm:inception_v4(drop_rate=0.2)"),
    "inception_resnet_v2": (
        "specs/inception_resnet_v2.isp",
        "timm:inception_resnet_v2(drop_rate=0.2)",
    ),
}


def zoo_reference(name: str) -> str:
    """The REF of a zoo model from its constructor in zoo_fixtures.MODELS."""
    lib, constructor, _ = MODELS[name]
    args = constructor.split("(", 1)[1].rstrip(")")
    args = ", ".join(
        a.strip()
        for a in args.split(",")
        if a.strip() and not re.match(r"(weights=None|pretrained=False|\"\w+\")$", a.strip())
    )
    return f"{lib}:{name}" + (f"({args})" if args else "")


def models() -> dict[str, tuple[str, str]]:
    out = dict(TOP)
    for spec in sorted((ROOT / "specs" / "zoo").glob("*.isp")):
        if spec.stem in MODELS:
            out[spec.stem] = (f"specs/zoo/{spec.name}", zoo_reference(spec.stem))
    return out


def _error(run) -> str:
    if run.problem:
        return run.problem
    return f"{run.max_abs:.1e} / {run.max_rel:.1e} (of {run.scale:.1e})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="model names (default: all)")
    ap.add_argument("--rtol", type=float, default=RTOL, help=f"default {RTOL:g}")
    args = ap.parse_args()
    table = models()
    unknown = [m for m in args.models if m not in table]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {' '.join(table)}")
    failed = False
    print(
        "| model | reference | params (spec = reference) | weights ported "
        "| max abs / rel error (of max \\|output\\|), eval | train | first divergence |"
    )
    print("|---|---|---:|---|---:|---:|---|")
    for name in args.models or list(table):
        spec, ref = table[name]
        t0 = time.perf_counter()
        net = elaborate(path=str(ROOT / spec))
        if not net.ok:
            print(f"| `{name}` | `{ref}` | spec errors | | | | |")
            failed = True
            continue
        try:
            v = verify(net, ref, rtol=args.rtol)
        except WeightsError as e:
            print(f"| `{name}` | `{ref}` | | does not load: {str(e).splitlines()[0]} | | | |")
            failed = True
            continue
        except Exception as e:  # a model that fails to build is a failure to report, not a crash
            print(f"| `{name}` | `{ref}` | FAILED: {type(e).__name__}: {str(e)[:200]} | | | | |")
            failed = True
            continue
        failed |= not v.ok
        params = (
            f"{v.spec_params:,}"
            if v.spec_params == v.ref_params
            else f"{v.spec_params:,} vs {v.ref_params:,}"
        )
        plan = v.ported.plan
        how = ", ".join(
            f"{n} by {word}" for n, word in ((plan.by_key, "key"), (plan.by_order, "order")) if n
        )
        first = (v.divergence or "").split("\n", 1)[0].partition(": ")[2].replace("|", "\\|")
        ev, tr = v.runs
        cells = [f"`{name}`", f"`{ref}`", params, how, _error(ev), _error(tr), first]
        print("| " + " | ".join(cells) + " |", flush=True)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
