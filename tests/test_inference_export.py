"""The inference export (generate(net, inference=True), docs/codegen.md): batch norm folded, sibling
convolutions merged where inspec/analysis/fusion.py says they may be, channels-last.

For every shipped network, the export loads export_state_dict(training module's state_dict) strictly
and gives the training module's eval-mode outputs (random batch-norm statistics, fp32, max relative
error below 1e-5). To keep the suite fast the networks are checked at a smaller input than their
spec's (the spec's text with its `input` line scaled down, checked again: same rows, same merges), on
batch 1; the largest ones that merge nothing (over 25M parameters) are checked on the meta device:
the export's state_dict keys and shapes, loaded strictly. No timing here (benchmarks/bench_forward.py).
"""

import os
import re
import subprocess
import sys
from functools import cache

import pytest
import torch

from inspec.analysis.elaborate import elaborate
from inspec.analysis.fusion import channels_last_blocker, plan
from inspec.backends.torch import build_module, generate
from inspec.backends.torch.layout import LINE_LENGTH
from inspec.backends.torch.source import export_paths, export_state_dict
from tests.conftest import ROOT, SPECS
from tests.strategies import random_bn

NETWORKS = [
    p.relative_to(ROOT).as_posix()
    for p in sorted(SPECS.rglob("*.isp"))
    if "blocks" not in p.parts and (n := elaborate(path=str(p))).ok and n.input is not None
]
BIG = 25_000_000  # parameters: above this, a network that merges nothing is checked on meta


@pytest.fixture(autouse=True)
def one_thread():
    """Small inputs on 2 xdist workers: a thread pool per worker only adds contention."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@cache
def small(rel: str):
    """The network at the smallest of 1/8, 1/6, ..., 1/1 of its input size (at least 8 pixels)
    that still checks."""
    text = (ROOT / rel).read_text(encoding="utf-8")
    m = re.search(r"^input\s+(\d+)x(\d+)x(\d+)", text, re.M)
    h, w, c = map(int, m.groups())
    for f in (8, 6, 4, 3, 2, 1):
        if h // f < 8 or w // f < 8:
            continue
        net = elaborate(
            text=f"{text[: m.start()]}input {h // f}x{w // f}x{c}{text[m.end() :]}",
            name=str(ROOT / rel),
        )
        if net.ok:
            return net
    raise AssertionError(f"{rel} checks at no input size")  # pragma: no cover


@pytest.mark.parametrize("rel", NETWORKS)
def test_export_equals_the_training_module_in_eval(rel):
    net = small(rel)
    groups = plan(net)
    if net.totals(sides=True).params > BIG and not groups:
        with torch.device("meta"):
            train, export = build_module(net), build_module(net, inference=True)
        export.load_state_dict(export_state_dict(net, train.state_dict()), strict=True)
        return
    _export_equals_training(net, batch=1, grad=False)


@pytest.mark.parametrize("rel", NETWORKS)
def test_merged_convs_are_where_the_ir_says(rel):
    """Each group of the plan is one module of the export whose members are the group's layers, in
    branch order, with their output channels summed; no other module stands for two layers."""
    net = small(rel)
    groups = plan(net)
    merged = [sources for _, sources in export_paths(net) if len(sources) > 1]
    assert len(merged) == len(groups)
    with torch.device("meta"):
        export = build_module(net, inference=True)
    modules = dict(export.named_modules())
    by_members = {len(g.layers): 0 for g in groups}
    for target, sources in export_paths(net):
        if len(sources) > 1:
            conv = modules[target]
            conv = getattr(conv, "conv", conv)
            assert isinstance(conv, torch.nn.Conv2d)
            assert conv.out_channels in {g.out_channels for g in groups}
            by_members[len(sources)] -= 1
    for g in groups:
        by_members[len(g.layers)] += 1
    assert not any(by_members.values())


def test_the_inception_blocks_merge_their_1x1_convs(in_root):
    counts = {
        "specs/googlenet_bn.isp": 9,  # 9 Inception modules: #1x1, #3x3 reduce, #5x5 reduce
        "specs/inception_v4.isp": 16,  # Mixed_4a, 4 A, 7 B, Reduction-B, 3 C
        "specs/inception_resnet_v2.isp": 42,  # Mixed_5b, 10 A, 20 B, Mixed_7a, 10 C
    }
    for rel, n in counts.items():
        groups = plan(elaborate(path=rel))
        assert len(groups) == n, rel
        assert all(g.kernel == (1, 1) and g.stride == 1 for g in groups)
    code = generate(elaborate(path="specs/googlenet_bn.isp"), inference=True)
    assert (
        "self.conv1x1 = ConvBNReLU(\n            in_channels, ch1x1 + ch3x3red + ch5x5red" in code
    )
    assert "self.conv1x1_split = [ch1x1, ch3x3red, ch5x5red]" in code
    assert "x = x.contiguous(memory_format=torch.channels_last)" in code
    network_doc = code.split("class GooglenetBn(nn.Module):\n")[1].split('"""')[1]
    assert "channels-last" in network_doc  # the network's docstring says so
    assert "--inference" in code.splitlines()[1]


def test_the_pool_branch_1x1_joins_the_merge_before_its_pool(in_root):
    """Inception-v4's and Inception-ResNet-v2's pool branches (avgpool 3x3/1 that does not count
    padded zeros, then a 1x1 conv): the 1x1 joins the block's merged conv, computed before the pool,
    its ReLU after it; GoogLeNet's pool branch (a max pool) and Inception-v3's (padded zeros count)
    stay as they are."""
    counts = {
        "specs/inception_v4.isp": 14,  # 4 A, 7 B, 3 C
        "specs/inception_resnet_v2.isp": 1,  # Mixed_5b
        "specs/googlenet_bn.isp": 0,
        "specs/zoo/inception_v3.isp": 0,
    }
    for rel, n in counts.items():
        groups = plan(elaborate(path=rel))
        assert sum(len(g.hoisted) for g in groups) == n, rel
        for g in groups:  # the hoisted members come last, and the merged conv then has no act
            assert list(g.branches[len(g.branches) - len(g.hoisted) :]) == list(g.hoisted)
            assert g.act == ("none" if g.hoisted else g.layers[0].attrs["act"])
    code = generate(elaborate(path="specs/inception_v4.isp"), inference=True)
    block = code.split("class InceptionA(nn.Module):")[1].split("class ")[0]
    assert "self.conv1x1 = ConvBN(in_channels, 320, kernel_size=1)" in block
    assert "F.relu(conv1x1[:, :224], inplace=True).split(\n            [96, 64, 64], 1" in block
    assert "branch3 = conv1x1[:, 224:]" in block
    assert (
        "nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),\n"
        "            nn.ReLU(inplace=True)," in block
    )


POOL_BRANCH = """network hoist()
input 12x12x8
defaults conv(bias = false, bn = true, act = relu)
concat {
  branch { conv 1x1 6 }
  branch { conv 1x1 4; conv 3x3 6 }
  branch { POOL; conv 1x1 5 ACT }
  BRANCH
}
"""


@pytest.mark.parametrize(
    "pool, act, extra, hoisted",
    [
        ("avgpool 3x3/1 pad=1 count_include_pad=false", "", "", 1),
        ("avgpool 3x3/1 pad=1 count_include_pad=false", "act=none", "", 1),
        ("avgpool 3x3/1 pad=1 count_include_pad=false", "act=silu", "", 1),
        ("avgpool 5x5/1 pad=2 count_include_pad=false round=ceil", "", "", 1),
        ("avgpool 1x1/1 valid count_include_pad=true", "", "", 1),
        # two pool branches: both hoisted, the pooled part split between them
        (
            "avgpool 3x3/1 pad=1 count_include_pad=false",
            "act=relu6",
            "branch { avgpool 3x3/1 pad=1 count_include_pad=false; conv 1x1 3; conv 3x3 4 }",
            2,
        ),
        # labelled rows: the branch's rows are attributes of the block (a flattened branch)
        ("avgpool (p) 3x3/1 pad=1 count_include_pad=false", "act=none", "", 1),
        (
            "avgpool 3x3/1 pad=1 count_include_pad=false",
            "",
            "branch e { avgpool (p2) 3x3/1; conv (proj) 1x1 3 act=none; relu (r) }",
            2,
        ),
        # not exact or not the same conv: left as they are
        ("avgpool 3x3/1 pad=1 count_include_pad=true", "", "", 0),  # the bias would be averaged
        ("maxpool 3x3/1 pad=1", "", "", 0),  # not linear
        ("avgpool 3x3/1 pad=1 count_include_pad=false", "bn=false bias=true", "", 0),
    ],
)
def test_a_pool_branch_is_hoisted_only_where_exact(pool, act, extra, hoisted):
    text = POOL_BRANCH.replace("POOL", pool).replace("ACT", act).replace("BRANCH", extra)
    net = elaborate(text=text, name="hoist.isp")
    assert net.ok, [d.message for d in net.diagnostics]
    groups = plan(net)
    assert sum(len(g.hoisted) for g in groups) == hoisted
    assert len(groups) == 1 and len(groups[0].layers) == 2 + hoisted + bool(extra and not hoisted)
    _export_equals_training(net)


def test_a_hoisted_merge_without_batch_norm_is_a_bare_conv():
    """Without batch norm and with a hoisted member the merged conv has no activation: a bare
    nn.Conv2d, where its members' rows are ConvReLU units (export_state_dict moves the weights)."""
    text = POOL_BRANCH.replace("bn = true", "bn = false, bias = true")
    net = elaborate(
        text=text.replace("POOL", "avgpool 3x3/1").replace("ACT", "").replace("BRANCH", "")
    )
    assert [len(g.hoisted) for g in plan(net)] == [1]
    assert "self.conv1x1 = nn.Conv2d(8, 15, kernel_size=1)" in generate(net, inference=True)
    _export_equals_training(net)


def test_the_export_names_the_modules_of_the_training_modules_layers():
    """export_modules: a layer's module in the export (inspec profile --inference times rows with
    it), or none for a merged conv's member and a hoisted branch's pool."""
    from inspec.backends.torch import export_modules

    moved = export_modules(elaborate(path="specs/inception_v4.isp"))
    block = "features.6"  # an Inception-A
    assert moved[f"{block}.branch0"] is None  # merged
    assert moved[f"{block}.branch1.0"] is None
    assert moved[f"{block}.branch1.1"] == f"{block}.branch1"
    assert moved[f"{block}.branch2.2"] == f"{block}.branch2.1"
    assert moved[f"{block}.branch3.0"] is None  # the pool, after the merged conv now
    assert moved[f"{block}.branch3.1"] is None
    assert moved["features.0"] == "features.0"


STRIDED_DILATED = """network sd()
input 2x1x4
conv 1x1 3 stride=2 pad=(2, 3) dilation=2 bn=false
conv 1x1 5
"""


def test_a_strided_dilated_conv_keeps_the_export_in_the_default_layout():
    """PyTorch's CPU convolution crashes (SIGSEGV, torch 2.13) on this 1x1 of stride 2 and dilation
    2 in channels-last: the export stays in the default layout and says why in its docstring."""
    net = elaborate(text=STRIDED_DILATED, name="sd.isp")
    assert channels_last_blocker(net) is net.body.items[0]
    code = generate(net, inference=True)
    assert "channels_last" not in code
    doc = " ".join(code.split('"""')[1].split())
    assert "default memory layout, not channels-last: the convolution at sd.isp line 3" in doc
    _export_equals_training(net)
    assert channels_last_blocker(elaborate(path="specs/inception_v4.isp")) is None


CONV_GRID = r"""
import os, random, torch
torch.set_num_threads(1)
rnd, bad, n = random.Random(0), [], 0
while n < 150:
    kh, kw, s, d = rnd.choice([1, 2, 3, 5]), rnd.choice([1, 2, 3, 5]), rnd.choice([1, 2, 3]), 1
    if rnd.random() < 0.5:
        s, d = 1, rnd.choice([2, 3])
    ph, pw, h, w = rnd.randint(0, 3), rnd.randint(0, 3), rnd.randint(1, 9), rnd.randint(1, 9)
    if (h + 2 * ph - d * (kh - 1) - 1) < 0 or (w + 2 * pw - d * (kw - 1) - 1) < 0:
        continue
    n += 1
    pid = os.fork()
    if pid == 0:
        conv = torch.nn.Conv2d(4, 4, (kh, kw), s, (ph, pw), d).to(memory_format=torch.channels_last)
        x = torch.randn(2, 4, h, w).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ok = torch.allclose(conv(x), conv.to(memory_format=torch.contiguous_format)(x.contiguous()), atol=1e-5)
        os._exit(0 if ok else 3)
    if os.waitpid(pid, 0)[1] != 0:
        bad.append((kh, kw, s, d, ph, pw, h, w))
print(n, bad)
"""


def test_channels_last_convs_with_a_stride_or_a_dilation_of_one_run():
    """The other side of channels_last_blocker's rule: 150 small convolutions whose stride or
    dilation is 1, each in a forked process (a crash would only end that one), all run in
    channels-last and agree with the default layout."""
    r = subprocess.run([sys.executable, "-c", CONV_GRID], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "150 []"


def _export_equals_training(net, batch: int = 2, grad: bool = True) -> None:
    """The export, with the training module's weights mapped (random batch-norm statistics), gives
    its eval outputs (max relative error below 1e-5); with `grad`, also called outside no_grad."""
    torch.manual_seed(0)
    train = build_module(net).eval()
    random_bn(train)
    export = build_module(net, inference=True).eval()
    export.load_state_dict(export_state_dict(net, train.state_dict()), strict=True)
    x = torch.randn(batch, net.input.c, net.input.h, net.input.w)
    with torch.no_grad():
        want, got = train(x), export(x)
    assert got.shape == want.shape
    assert ((got - want).abs().max() / want.abs().max()).item() < 1e-5
    if grad:  # the in-place activation is on a slice, not on a split's output: autograd allows it
        got_grad = export(x)
        assert got_grad.requires_grad and torch.allclose(got_grad, got)


def test_the_training_module_is_unchanged_by_the_option(in_root):
    net = elaborate(path="specs/inception_v4.isp")
    assert generate(net) == (ROOT / "tests/golden/torch/inception_v4.py").read_text(
        encoding="utf-8"
    )
    assert generate(net, inference=True) != generate(net, fuse_bn=True)


def test_export_code_is_deterministic_ruff_clean_and_torch_free(tmp_path):
    files = []
    for k, rel in enumerate(NETWORKS):
        net = elaborate(path=str(ROOT / rel))
        code = generate(net, inference=True)
        assert code == generate(net, inference=True)
        compile(code, rel, "exec")
        f = tmp_path / f"m{k}.py"
        f.write_text(code, encoding="utf-8")
        files.append(str(f))
    ruff = [sys.executable, "-m", "ruff"]
    config = ["--config", str(ROOT / "pyproject.toml")]
    check = subprocess.run([*ruff, "check", *config, *files], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "--line-length", str(LINE_LENGTH), *config, *files],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    probe = (
        "import sys; from inspec.analysis.elaborate import elaborate; "
        "from inspec.analysis.fusion import plan; "
        "from inspec.backends.torch import generate; "
        "net = elaborate(path='specs/googlenet_bn.isp'); plan(net); generate(net, inference=True); "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


def test_build_inference_loads_the_training_weights(in_root):
    """inspec.build(spec, weights=..., inference=True): the checkpoint (training keys) is loaded
    into the training module by key, strictly, then turned into the export's weights; the export
    is in eval mode and computes what the training module computes there."""
    import inspec

    torch.manual_seed(0)
    train = inspec.build("specs/googlenet_bn.isp").eval()
    for m in train.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # random statistics: equal outputs mean something
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    export = inspec.build("specs/googlenet_bn.isp", weights=train.state_dict(), inference=True)
    assert not export.training
    assert export.inspec_weights.missing == [] and export.inspec_weights.unexpected == []
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        want, got = train(x), export(x)
    assert float((got - want).abs().max() / want.abs().max()) < 1e-5


def test_cli_compile_inference(tmp_path, in_root):
    from click.testing import CliRunner

    from inspec.cli import cli

    out = tmp_path / "g.py"
    r = CliRunner().invoke(
        cli, ["compile", "specs/googlenet_bn.isp", "--inference", "-q", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert out.read_text() == generate(
        elaborate(path="specs/googlenet_bn.isp"), inference=True, output=str(out)
    )
    both = ["compile", "specs/googlenet_bn.isp", "--inference", "--fuse-bn", "-o", "-"]
    r = CliRunner().invoke(cli, both)
    assert r.exit_code == 2
    assert "--inference folds batch norm already: give one of --fuse-bn, --inference" in r.output


TINY = """network tiny(num_classes = 5)
input 16x16x3
defaults conv(bias = false, bn = true, act = relu)
block mix(a, b) {
  branch { conv 1x1 a }
  branch { conv 1x1 b;  conv 3x3 a }
}
conv 3x3 8
mix 4 6
avgpool adaptive=1
linear num_classes
"""


def _tiny_weights():
    torch.manual_seed(0)
    import inspec

    train = inspec.build(TINY).eval()
    random_bn(train)
    return train


def test_build_compile_falls_back_where_torch_compile_fails(monkeypatch):
    """torch.compile raising (no inductor on this platform): one warning, the eager export."""
    import inspec

    train = _tiny_weights()

    def no_compile(*args, **kwargs):
        raise RuntimeError("Windows not yet supported for torch.compile\nmore detail")

    monkeypatch.setattr(torch, "compile", no_compile)
    with pytest.warns(RuntimeWarning) as caught:
        export = inspec.build(TINY, train.state_dict(), compile=True)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message and "Windows not yet supported" in message
    assert "eager inference export" in message
    assert not export.training and not hasattr(export, "inspec_compile_seconds")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(export(x), train(x), rtol=1e-5, atol=1e-6)


def test_build_compile_falls_back_where_the_backend_fails_on_first_call(monkeypatch):
    """The backend failing when it compiles (no C compiler): the first call warns once and runs
    the eager export, and so does every later call; a wrong input still raises."""
    import inspec

    train = _tiny_weights()
    calls = []

    def lazy_failure(module, **kwargs):
        calls.append(kwargs)

        def run(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C compiler found")

        return run

    monkeypatch.setattr(torch, "compile", lazy_failure)
    module = inspec.build(TINY, train.state_dict(), compile={"mode": "max-autotune"})
    assert calls == [{"mode": "max-autotune", "options": {"freezing": True}}]
    assert module.inspec_compiled and module.inspec_compile_seconds is None
    x = torch.randn(2, 3, 16, 16)
    with pytest.warns(RuntimeWarning, match="No working C compiler"):
        got = module(x)
    assert not module.inspec_compiled and module.inspec_compile_seconds is None
    with torch.no_grad():
        want = train(x)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert torch.equal(module(x), got)
    with pytest.raises(RuntimeError):
        module(torch.randn(2, 4, 16, 16))


def test_compile_is_not_a_network_parameter():
    """`compile` is build's, like `inference`: never passed to the spec as a parameter."""
    import inspec

    train = inspec.build(TINY, compile=False, num_classes=3)
    assert train.training and train(torch.randn(1, 3, 16, 16)).shape == (1, 3)


def test_build_compile_equals_eager(tmp_path, monkeypatch):
    """One real compile (inductor, freezing) of a tiny spec: the compiled export computes what the
    eager export computes; the first call's wall time is recorded (no bound asserted)."""
    import inspec

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    train = _tiny_weights()
    module = inspec.build(TINY, train.state_dict(), compile=True)
    assert not module.training and module.inspec_compile_seconds is None
    x = torch.randn(2, 3, 16, 16)
    got = module(x)
    if not module.inspec_compiled:  # pragma: no cover  (no C compiler here: the fallback ran)
        pytest.skip("inductor cannot run on this machine")
    assert module.inspec_compile_seconds > 0
    assert not got.requires_grad
    with torch.no_grad():
        want = module.eager(x)
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
        assert torch.allclose(got, train(x), rtol=1e-5, atol=1e-6)


def test_build_compile_keeps_a_blocked_network_out_of_channels_last(tmp_path):
    """Inductor's freezing would put the convolutions back in channels-last by itself (its layout
    optimisation), and the strided, dilated conv would crash the process: build turns that off for
    such a network. In a child process, so that a crash fails this test only."""
    (tmp_path / "sd.isp").write_text(STRIDED_DILATED)
    code = (
        "import inspec, torch\n"
        "m = inspec.build('sd.isp', compile=True)\n"
        "x = torch.randn(2, 4, 2, 1)\n"
        "print(m.inspec_compiled, torch.allclose(m(x), m.eager(x)), m.inspec_compiled)\n"
    )
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["True", "True", "True"]


def test_cli_weights_inference_writes_the_exports_state_dict(tmp_path, in_root):
    """`inspec weights SPEC --from CKPT --inference -o OUT.pt`: a trained checkpoint (training keys)
    turned into the state_dict that the inference export loads, strictly, computing the same."""
    from tests.conftest import run_cli

    torch.manual_seed(0)
    net = elaborate(path="specs/googlenet_bn.isp", params={"aux_logits": False})
    train = build_module(net, aux_logits=False).eval()
    random_bn(train)
    torch.save(train.state_dict(), tmp_path / "trained.pt")
    out = tmp_path / "export.pt"
    args = [
        "specs/googlenet_bn.isp",
        "-p",
        "aux_logits=false",
        "--from",
        str(tmp_path / "trained.pt"),
    ]
    r = run_cli("weights", *args, "--inference", "-o", str(out), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"wrote {out}"
    export = build_module(net, inference=True, aux_logits=False).eval()
    export.load_state_dict(torch.load(out, weights_only=True), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        want, got = train(x), export(x)
    assert float((got - want).abs().max() / want.abs().max()) < 1e-5
    r = run_cli("weights", *args, "--inference", "--to-reference", "--against", "x", "-o", "y.pt")
    assert r.returncode == 2 and "--inference writes the export's keys" in r.stderr
