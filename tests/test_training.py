"""examples/digits.py: a compiled spec trained on scikit-learn's digits (1,797 8x8 images upsampled to
the spec's input; 360 held out) in a few epochs, well above chance (10 %)."""

import importlib.util

import pytest
import torch

import inspec
from tests.conftest import ROOT


def _example(name: str):
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"inspec_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    """One intra-op thread: small models on a shared 2-core machine run fastest so."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_digits_are_upsampled_to_the_spec_input_and_split_stratified():
    digits = _example("digits")
    train, test = digits.datasets_for(digits.LENET5)
    assert (len(train), len(test)) == (1437, 360)
    x, y = test.tensors
    assert x.shape == (360, 1, 32, 32) and x.dtype == torch.float32
    assert torch.bincount(y, minlength=10).min() >= 35  # every digit held out (stratified)
    assert abs(train.tensors[0].mean().item()) < 1e-4  # standardised on the training images


def test_lenet5_learns_the_digits(one_thread):
    digits = _example("digits")
    lines = []
    result = digits.train(digits.LENET5, epochs=4, log=lines.append)
    assert result["accuracy"] >= 0.9, lines
    assert len(lines) == 4 and "held-out accuracy" in lines[-1]
    assert len(result["epoch_seconds"]) == 4


def test_inception_with_an_aux_head_learns_the_digits(one_thread):
    digits = _example("digits")
    (aux,) = inspec.load(digits.INCEPTION).ir.sides
    assert (aux.name, aux.loss_weight) == ("aux1", 0.3)
    torch.manual_seed(0)
    init = {k: v.clone() for k, v in inspec.build(digits.INCEPTION).state_dict().items()}
    result = digits.train(digits.INCEPTION, epochs=1, log=lambda line: None)
    assert result["accuracy"] >= 0.8
    model = result["model"]
    # the aux head trained too: loss() of the outputs tuple reaches it
    trained = model.state_dict()
    aux_keys = [k for k in trained if k.startswith("aux1.") and k.endswith("weight")]
    assert aux_keys and all(not torch.equal(trained[k], init[k]) for k in aux_keys)
    model.train()
    out = model(torch.zeros(2, 1, 32, 32))
    assert out._fields == ("logits", "aux1")


def test_the_example_command_prints_a_summary(one_thread, capsys):
    digits = _example("digits")
    digits.main([str(digits.LENET5), "--epochs", "1", "--shift", "0"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("lenet5: held-out accuracy ") and "after 1 epoch," in last
    assert float(last.split("accuracy ")[1].split("%")[0]) > 50
