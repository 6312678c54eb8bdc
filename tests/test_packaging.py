"""The wheel carries the grammar, the jinja2 templates (inspec/backends/torch/templates; the
top-level templates/ is a link to that one copy) and the shipped specs and block libraries (specs/ as
inspec/library: `import "inspec/blocks/inception.isp"`)."""

import subprocess
import sys
import zipfile

from tests.conftest import ROOT


def test_wheel_ships_grammar_templates_and_library(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("inspec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "inspec/language/grammar.lark" in names
    shipped = {n.split("/")[-1] for n in names if n.startswith("inspec/backends/torch/templates/")}
    in_repo = {p.name for p in (ROOT / "templates").iterdir() if p.is_file()}
    assert (ROOT / "templates").resolve() == ROOT / "inspec/backends/torch/templates"
    assert in_repo and in_repo <= shipped
    assert any(n.endswith("entry_points.txt") for n in names)
    for lib in ("blocks/googlenet.isp", "blocks/inception.isp", "zoo/blocks/resnet.isp"):
        assert f"inspec/library/{lib}" in names
    shipped_specs = {n.removeprefix("inspec/library/") for n in names if n.endswith(".isp")}
    assert shipped_specs == {
        str(p.relative_to(ROOT / "specs")) for p in ROOT.glob("specs/**/*.isp")
    }
