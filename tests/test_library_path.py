"""Imports are looked up next to the importing file, then in $INSPEC_PATH, then (for `inspec/...`)
in the library inspec ships; the wheel carries that library (issue 13, papercuts)."""

from __future__ import annotations

from inspec.analysis.elaborate import elaborate
from inspec.analysis.loader import library_root
from tests.conftest import ROOT, run_cli

SPEC = """network tiny(num_classes = 10)
input 28x28x192
import "inspec/blocks/googlenet.isp"
inception (i3a) 64 96 128 16 32 32
avgpool 28x28/1
linear num_classes
"""


def _errors(net):
    return [d for d in net.diagnostics if d.is_error]


def test_library_root_is_the_shipped_specs():
    assert library_root() == ROOT / "specs"
    assert (library_root() / "blocks" / "googlenet.isp").is_file()


def test_shipped_library_imports_from_any_folder(tmp_path):
    spec = tmp_path / "tiny.isp"
    spec.write_text(SPEC)
    net = elaborate(path=str(spec))
    assert not _errors(net)
    assert net.output.c == 10
    r = run_cli("check", str(spec), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{spec}: ok")


def test_a_file_next_to_the_spec_comes_first(tmp_path):
    (tmp_path / "inspec" / "blocks").mkdir(parents=True)
    (tmp_path / "inspec" / "blocks" / "googlenet.isp").write_text(
        "block inception(a, b, c, d, e, f) {\n  conv 1x1 a\n}\n"
    )
    spec = tmp_path / "tiny.isp"
    spec.write_text(SPEC)
    net = elaborate(path=str(spec))
    assert not _errors(net)
    assert str(tmp_path / "inspec" / "blocks" / "googlenet.isp") in net.sources


def test_search_path_folders_in_order(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, channels in ((first, 16), (second, 32)):
        folder.mkdir()
        (folder / "mine.isp").write_text(
            f"block widen(out) {{\n  conv 1x1 out\n  conv 1x1 {channels}\n}}\n"
        )
    home = tmp_path / "specs"
    home.mkdir()
    spec = home / "net.isp"
    spec.write_text('network n\ninput 8x8x3\nimport "mine.isp"\nwiden 8\n')
    monkeypatch.setenv("INSPEC_PATH", f"{tmp_path / 'absent'}:{second}:{first}")
    net = elaborate(path=str(spec))
    assert not _errors(net) and net.output.c == 32
    monkeypatch.setenv("INSPEC_PATH", f"{first}:{second}")
    assert elaborate(path=str(spec)).output.c == 16


def test_a_failed_import_names_every_path_tried(tmp_path, monkeypatch):
    spec = tmp_path / "net.isp"
    spec.write_text('network n\ninput 8x8x3\nimport "inspec/blocks/nope.isp"\nconv 1x1 8\n')
    monkeypatch.setenv("INSPEC_PATH", str(tmp_path / "lib"))
    (e,) = _errors(elaborate(path=str(spec)))
    assert e.message == "cannot find 'inspec/blocks/nope.isp' to import"
    assert e.span.line == 3
    tried = [
        tmp_path / "inspec/blocks/nope.isp",
        tmp_path / "lib/inspec/blocks/nope.isp",
        library_root() / "blocks/nope.isp",
    ]
    assert e.notes[0] == "tried " + ", ".join(map(str, tried))
    r = run_cli("check", str(spec), env={"INSPEC_PATH": str(tmp_path / "lib")})
    assert r.returncode == 1
    assert "cannot find 'inspec/blocks/nope.isp' to import" in r.stderr
    assert str(library_root() / "blocks/nope.isp") in r.stderr


def test_an_imported_file_with_rows_but_no_network_is_warned_of(tmp_path):
    """An import takes a file's blocks; rows without a network (not a spec, a typo) are named."""
    (tmp_path / "lib.isp").write_text("this is not a spec\n")
    spec = tmp_path / "t.isp"
    spec.write_text('network n\ninput 8x8x3\nimport "lib.isp"\nconv 1x1 8\n')
    net = elaborate(path=str(spec))
    (w,) = [d for d in net.diagnostics if not d.is_error]
    assert w.message == "'lib.isp' has rows but no network; an import takes only its blocks"
    assert w.span.line == 3 and w.notes == (f"its first row is at {tmp_path / 'lib.isp'}:1:1",)
