"""Record reference facts about torchvision and timm CNNs as JSON fixtures (tests/fixtures/zoo/).

For each model: every state_dict key with its shape (in model.state_dict() order, buffers included),
the parameter count, the buffer element count, the input size and the eval-mode output size, plus
the train-mode output shapes for models that return several tensors in train mode. The test suite
reads these files and never imports torchvision or timm.

Run it with the reference virtualenv's python (scripts/zoo-fixtures does exactly that):

    ~/.cache/inspec-ref/bin/python scripts/zoo_fixtures.py [--out DIR] [--check] [MODEL ...]

That virtualenv is built by ../shared/tools/reference-venv.sh. It exists for generating fixtures
only; the project's tests and CI never use it (its torchvision is a CUDA wheel with its compiled
ops disabled so that the model definitions import on CPU torch).

--check recomputes the files and compares them with the ones on disk: exit 1 on any difference,
missing file or (when no MODEL is named) stray NAME.json.
"""

import warnings

warnings.filterwarnings("ignore")

import argparse  # noqa: E402
import difflib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "zoo"

# name -> (library, constructor call as written in the fixture, input resolution)
MODELS: dict[str, tuple[str, str, int]] = {}


def _tv(name: str, res: int = 224, extra: str = "") -> None:
    MODELS[name] = ("torchvision", f"torchvision.models.{name}(weights=None{extra})", res)


_tv("inception_v3", 299, ", aux_logits=True, init_weights=False")
for _n in (
    "resnet18 resnet34 resnet50 resnet101 resnet152 resnext50_32x4d resnext101_32x8d"
    " wide_resnet50_2 wide_resnet101_2 densenet121 densenet161 densenet169 densenet201"
    " mobilenet_v2 mobilenet_v3_large mobilenet_v3_small squeezenet1_0 squeezenet1_1"
    " shufflenet_v2_x0_5 shufflenet_v2_x1_0 shufflenet_v2_x1_5 shufflenet_v2_x2_0"
).split():
    _tv(_n)
# The EfficientNet paper's resolutions, which are torchvision's EfficientNet_B*_Weights crop sizes
# except b2 (torchvision evaluates its b2 weights at 288).
for _i, _res in enumerate((224, 240, 260, 300, 380, 456, 528, 600)):
    _tv(f"efficientnet_b{_i}", _res)
for _n in ("regnet_y_400mf", "regnet_y_800mf", "regnet_x_400mf"):
    _tv(_n)
MODELS["legacy_xception"] = ("timm", 'timm.create_model("legacy_xception", pretrained=False)', 299)


def _version(module) -> str:
    # Drop the local tag ("0.28.0+cu130" -> "0.28.0"): the wheel's build flavour is not a model fact.
    return module.__version__.split("+")[0]


def build(name: str) -> tuple[torch.nn.Module, str]:
    lib, _, _ = MODELS[name]
    if lib == "timm":
        import timm

        return timm.create_model(name, pretrained=False), f"timm {_version(timm)}"
    import torchvision

    kwargs = {"aux_logits": True, "init_weights": False} if name == "inception_v3" else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    return model, f"torchvision {_version(torchvision)}"


def _shapes(out) -> list[list[int]]:
    """Shapes (batch dim dropped) of every tensor in a tensor, tuple or namedtuple."""
    if isinstance(out, torch.Tensor):
        return [list(out.shape[1:])]
    if isinstance(out, (tuple, list)):
        return [s for o in out if o is not None for s in _shapes(o)]
    raise TypeError(f"unexpected model output {type(out).__name__}")


def facts(name: str) -> dict:
    _, constructor, res = MODELS[name]
    torch.manual_seed(0)
    model, source = build(name)
    # Shapes are read before any forward pass (train mode updates BatchNorm statistics).
    state = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    obj = {
        "model": name,
        "source": source,
        "constructor": constructor,
        "input": [3, res, res],
        "output": None,
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": sum(b.numel() for b in model.buffers()),
    }
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, res, res))
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{name}: eval output is {type(out).__name__}, not a tensor")
        obj["output"] = list(out.shape[1:])
        train_out = model.train()(torch.zeros(2, 3, res, res))
    if not isinstance(train_out, torch.Tensor):
        obj["train_outputs"] = _shapes(train_out)
    obj["state_dict"] = state
    return obj


def dump(obj: dict) -> str:
    """json.dumps with one line per top-level key and per state_dict entry (diff-friendly)."""
    lines = []
    for key, value in obj.items():
        if key == "state_dict":
            rows = ["  " + json.dumps(entry) for entry in value]
            lines.append(f"{json.dumps(key)}: [\n" + ",\n".join(rows) + "\n ]")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="scripts/zoo_fixtures.py", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: tests/fixtures/zoo")
    ap.add_argument("--check", action="store_true", help="compare, exit 1 on a difference")
    ap.add_argument("models", nargs="*", metavar="MODEL", help=f"default: all {len(MODELS)}")
    args = ap.parse_args(argv)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {' '.join(MODELS)}")
    names = args.models or list(MODELS)
    bad = 0
    if not args.check:
        args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        t0 = time.perf_counter()
        obj = facts(name)
        text = dump(obj)
        assert json.loads(text) == obj
        path = args.out / f"{name}.json"
        took = f"{time.perf_counter() - t0:5.1f}s"
        if args.check:
            old = path.read_text() if path.exists() else None
            if old == text:
                print(f"ok      {name:22} {took}")
                continue
            bad += 1
            if old is None:
                print(f"MISSING {path}")
            else:
                print(f"DIFFERS {path}")
                diff = difflib.unified_diff(
                    old.splitlines(), text.splitlines(), "on disk", "computed", lineterm="", n=1
                )
                print("\n".join(list(diff)[:60]))
        else:
            path.write_text(text)
            print(f"wrote   {name:22} {took}  params {obj['params']:>11,}  output {obj['output']}")
    if args.check and not args.models:
        known = {args.out / f"{n}.json" for n in MODELS}
        for stray in sorted(set(args.out.glob("*.json")) - known):
            bad += 1
            print(f"STRAY   {stray}")
    if args.check:
        print(f"{bad} problem(s)" if bad else f"all {len(names)} fixtures match")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
