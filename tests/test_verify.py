"""`inspec verify SPEC --against REF` (inspec/weights/verify.py, docs/weights.md): equal outputs, the
first layer that diverges for each silent convention mistake of tests/fixtures/weights/refs.py, and
every message of a reference that cannot be had."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from inspec.cli import cli
from inspec.weights import ReferenceUnavailable, reference
from inspec.weights.verify import randomise
from tests.conftest import ROOT
from tests.fixtures.weights.refs import REF


def _verify(*args):
    return CliRunner().invoke(cli, ["verify", "small.isp", "--against", *args])


def _head(against: str) -> str:
    return (
        f"small (small.isp) against {against}\n"
        "params: spec 6,018, reference 6,018\n"
        "weights: 14 entries ported (0 by key, 14 by order; map auto)\n"
    )


def test_equal_outputs_exit_0(work):
    r = _verify(REF)
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == _head(REF) + (
        "eval:  max abs error 0.0e+00, max rel error 0.0e+00 (outputs up to 1.7e-01)\n"
        "train: max abs error 0.0e+00, max rel error 0.0e+00 (outputs up to 1.7e-01)\n"
        "equal within rtol 1e-05\n"
    )


def test_an_average_pool_that_counts_its_padding_is_found(work):
    """Shapes and counts are identical; only the outputs tell, and the finder names the pool's row."""
    against = f"{REF}(include_pad=True)"
    r = _verify(against)
    assert r.exit_code == 1
    assert r.stdout == _head(against) + (
        "eval:  max abs error 1.4e-02, max rel error 8.7e-02 (outputs up to 1.6e-01)\n"
        "train: max abs error 1.9e-02, max rel error 1.2e-01 (outputs up to 1.7e-01)\n"
        "first divergence (eval): avgpool (small.isp:5 avgpool 3x3/1 pad=1 count_include_pad=false)\n"
        "  it has no weights and runs between down and b1\n"
        "  the layers with weights that run before agree with the reference; the input of b1 does "
        "not (reference: left; max rel error 5.0e-01)\n"
        "differs: max rel error 1.2e-01 > rtol 1e-05\n"
    )


def test_symmetric_padding_instead_of_tf_same_is_the_conv_itself(work):
    against = f"{REF}(symmetric=True)"
    r = _verify(against)
    assert r.exit_code == 1
    assert r.stdout.split("\n")[5:7] == [
        "first divergence (eval): down (small.isp:4 conv (down) 3x3/2 8 same)",
        "  its input agrees with the reference's (reduce), its output does not (max rel error "
        "1.3e+00)",
    ]


def test_branches_concatenated_in_another_order_are_the_forward_code(work):
    r = _verify(f"{REF}(swap=True)")
    assert r.exit_code == 1
    assert r.stdout.split("\n")[5:8] == [
        "first divergence (eval): the forward code between b2 and fc (small.isp:8 linear (fc) "
        "num_classes)",
        "  no layer of its own runs there: a concatenation, a sum or an activation applied in forward",
        "  the layers with weights that run before agree with the reference; the input of fc does "
        "not (reference: classifier; max rel error 1.4e+00)",
    ]


def test_a_difference_in_train_mode_only(work):
    r = _verify(f"{REF}(drop=0.5)")
    assert r.exit_code == 1
    lines = r.stdout.split("\n")
    assert lines[3].startswith("eval:  max abs error 0.0e+00, max rel error 0.0e+00 (outputs up to")
    assert lines[5].startswith("first divergence (train): the forward code between b2 and fc")


def test_outputs_that_cannot_be_compared(work):
    against = f"{REF}(twice=True)"
    r = _verify(against)
    assert r.exit_code == 1
    assert r.stdout == _head(against) + (
        "eval:  the spec's module returns 1 tensor, the reference 2\n"
        "train: the spec's module returns 1 tensor, the reference 2\n"
        "differs: the outputs cannot be compared\n"
    )


def test_rtol_and_report(work):
    r = _verify(f"{REF}(include_pad=True)", "--rtol", "1")
    assert r.exit_code == 0 and r.stdout.endswith("\nequal within rtol 1\n")
    r = _verify(REF, "--report")
    assert r.exit_code == 0
    assert r.stdout.startswith(f"key map: small <- {REF} (map auto)\n")
    assert "  order      fc.weight 10x512 <- classifier.weight\n" in r.stdout


def test_a_reference_whose_weights_do_not_fit(work):
    against = f"{REF}(num_classes=5)"
    r = _verify(against)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (
        f"inspec: error: {against} does not fit small (map auto): 2 mis-shaped\n"
        "first mismatch in order: the 2-d 'weight' entries (1 on each side; number 1): small's "
        f"fc.weight 10x512, {against}'s classifier.weight 5x512\n"
        "small.isp:8 `linear (fc) num_classes` (fc)\n"
        "  mis-shaped fc.weight 10x512 <- classifier.weight 5x512\n"
        "  mis-shaped fc.bias 10 <- classifier.bias 5\n"
    )
    r = _verify(REF, "--map", "key")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"inspec: error: {REF} does not fit small (map key): 13 missing, ")
    assert r.stderr.endswith(
        "\nhint: only 0 of 14 names agree; map 'auto' pairs the rest by structure (--map auto; "
        "map='auto' in inspec.build)\n"
    )


UNAVAILABLE = [
    (
        "nonsense",
        "reference 'nonsense': expected torchvision:NAME, timm:NAME or package.module:factory, "
        "optionally with arguments as in torchvision:googlenet(aux_logits=False)",
    ),
    (
        "x:f(open('a'))",
        "reference \"x:f(open('a'))\": its arguments must be Python literals, as in "
        "torchvision:googlenet(aux_logits=False)",
    ),
    (
        "tests.fixtures.weights.refs:nope",
        "reference 'tests.fixtures.weights.refs:nope': tests.fixtures.weights.refs has no nope",
    ),
    (
        "tests.fixtures.weights.refs:not_a_module",
        "reference 'tests.fixtures.weights.refs:not_a_module' is an int, not a torch.nn.Module",
    ),
    (
        "tests.fixtures.weights.refs:broken",
        "reference 'tests.fixtures.weights.refs:broken': building it failed: RuntimeError: no "
        "weights today",
    ),
    (
        "no_such_pkg.mod:f",
        "reference 'no_such_pkg.mod:f': cannot import no_such_pkg.mod: no module named "
        "'no_such_pkg'",
    ),
    (
        "timm:inception_v4",
        "reference 'timm:inception_v4' needs the package 'timm', which is not installed "
        "(pip install timm)",
    ),
    (
        "torchvision:googlenet(aux_logits=False)",
        "reference 'torchvision:googlenet(aux_logits=False)' needs the package 'torchvision', "
        "which is not installed (pip install torchvision)",
    ),
]


@pytest.mark.parametrize(("against", "message"), UNAVAILABLE)
def test_a_reference_that_cannot_be_had_is_one_line_and_exit_2(work, monkeypatch, against, message):
    monkeypatch.setitem(sys.modules, "timm", None)  # absent, whatever is installed
    monkeypatch.setitem(sys.modules, "torchvision", None)
    r = _verify(against)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"inspec: error: {message}\n")


MISSING = """
import sys
sys.modules["timm"] = None  # absent, whatever is installed
sys.argv = ["inspec", "verify", {spec!r}, "--against", "timm:inception_v4"]
from inspec.cli import main
main()
"""


def test_a_missing_package_through_the_real_entry_point(work):
    proc = subprocess.run(
        [sys.executable, "-c", MISSING.format(spec=str(work / "small.isp"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "inspec: error: reference 'timm:inception_v4' needs the package 'timm', which is not "
        "installed (pip install timm)\n"
    )


def test_verify_usage_and_spec_errors(work):
    r = CliRunner().invoke(cli, ["verify", "small.isp"])
    assert r.exit_code == 2 and "Missing option '--against'" in r.stderr
    r = _verify(REF, "--rtol", "-1")
    assert r.exit_code == 2 and "-1.0 is not in the range 0<=x<=1" in r.stderr
    (work / "lib.isp").write_text("block b { conv 1x1 4 }\n")
    r = CliRunner().invoke(cli, ["verify", "lib.isp", "--against", REF])
    assert (r.exit_code, r.stderr) == (
        1,
        "lib.isp is a block library: it has no network to verify\n",
    )


# ------------------------------------------------------------------------------------------------
# The pieces


def test_parse_reference():
    ref = reference.parse("timm:inception_v4(drop_rate=0.2, features_only=False)")
    assert (ref.library, ref.name, ref.args, ref.kwargs) == (
        "timm",
        "inception_v4",
        (),
        {"drop_rate": 0.2, "features_only": False},
    )
    ref = reference.parse("my.pkg.models:Net.build(3, (1, 2))")
    assert (ref.library, ref.name, ref.args) == ("my.pkg.models", "Net.build", (3, (1, 2)))
    for bad in ("timm", ":x", "timm:", "a b:c", "timm:x(**k)"):
        with pytest.raises(ReferenceUnavailable):
            reference.parse(bad)


def test_randomise_draws_batch_norm_statistics_and_constant_parameters():
    def model():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
        nn.init.zeros_(m[2].bias)
        return m

    a, b = model(), model()
    conv = a[0].weight.detach().clone()
    randomise(a, 0)
    randomise(b, 0)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    bn = a[1]
    assert bn.running_mean.abs().max() > 0 and not torch.equal(bn.running_var, torch.ones(4))
    assert ((bn.running_var >= 0.5) & (bn.running_var <= 1.5)).all()
    assert not torch.equal(bn.weight, torch.ones(4)) and bn.bias.abs().max() > 0
    assert a[2].bias.abs().max() > 0  # a zero bias hides a swap
    assert torch.equal(a[0].weight, conv)  # drawn already: kept
