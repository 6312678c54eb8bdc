"""hubconf.py: every shipped spec is a torch.hub entry point, loaded with source="local"."""

import importlib.util

import torch

import inspec
from tests.conftest import ROOT, SPECS


def _hubconf():
    spec = importlib.util.spec_from_file_location("inspec_hubconf", ROOT / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_shipped_spec_is_an_entry_point():
    hub = _hubconf()
    entries = {n for n in dir(hub) if not n.startswith("_") and callable(getattr(hub, n))}
    shipped = {p.stem for folder in ("", "zoo", "examples") for p in (SPECS / folder).glob("*.isp")}
    assert entries == shipped and len(entries) >= 45
    assert {"googlenet", "inception_v4", "inception_v3", "lenet5", "resnet50"} <= entries
    assert hub.dependencies == ["torch", "lark", "jinja2"]
    doc = hub.inception_v4.__doc__
    assert doc.startswith("Inception-v4: Szegedy, Ioffe, Vanhoucke, Alemi 2016")
    assert "specs/inception_v4.isp" in doc


def test_torch_hub_load_local_builds_the_spec_with_its_parameters():
    model = torch.hub.load(str(ROOT), "inception_v4", source="local", num_classes=10)
    want = inspec.load(SPECS / "inception_v4.isp", num_classes=10).totals().params
    assert type(model).__name__ == "InceptionV4"
    assert sum(p.numel() for p in model.parameters()) == want
    assert model.last_linear.out_features == 10
    lenet = torch.hub.load(str(ROOT), "lenet5", source="local").eval()
    with torch.no_grad():
        assert lenet(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_torch_hub_load_local_loads_weights(tmp_path):
    torch.manual_seed(0)
    source = inspec.build(SPECS / "lenet5.isp")
    path = tmp_path / "lenet5.pt"
    torch.save(source.state_dict(), path)
    model = torch.hub.load(str(ROOT), "lenet5", source="local", weights=str(path))
    for name, tensor in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], tensor)
    # a zoo spec, a parameter switched: googlenet-style aux heads off
    v3 = torch.hub.load(str(ROOT), "inception_v3", source="local", aux_logits=False)
    assert v3.AuxLogits is None
