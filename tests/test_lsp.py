"""The language server end to end: `python -m inspec lsp` in a subprocess, driven over stdio by
pytest-lsp's client (the real protocol: initialize, didOpen/didChange, hover, definition, completion,
formatting), its answers compared with what `inspec check` and `inspec table -f json` print."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types as T
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from inspec.analysis.ops import ACT_WORDS, ROW_OPS
from tests.conftest import ROOT, run_cli

GOOGLENET = ROOT / "specs" / "googlenet.isp"
BLOCKS = ROOT / "specs" / "blocks" / "googlenet.isp"


@pytest_asyncio.fixture
async def client():
    """A server started as an editor starts it, from the repository root (paths in its messages are
    relative to the working directory, as the CLI's are)."""
    lsp = make_test_lsp_client()
    await lsp.start_io(sys.executable, "-m", "inspec", "lsp", cwd=ROOT)
    await lsp.initialize_session(
        T.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT.as_uri()
        )
    )
    yield lsp
    await lsp.shutdown_session()
    await lsp.stop()


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        T.DidOpenTextDocumentParams(
            T.TextDocumentItem(uri, "inspec", 1, path.read_text() if text is None else text)
        )
    )
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


_HEAD = re.compile(
    r"^(?P<file>\S.*?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning|note): (?P<msg>.*)$"
)
_NOTE = re.compile(r"^\s+= note: (?P<note>.*)$")
_SEVERITY = {"error": 1, "warning": 2, "note": 3}


def _cli_diagnostics(spec: str, cwd: Path = ROOT) -> list[tuple]:
    """`inspec check`'s diagnostics: (line, col, severity, message with its notes), in order."""
    out = run_cli("check", spec, cwd=cwd).stderr
    diags: list[list] = []
    for line in out.splitlines():
        if m := _HEAD.match(line):
            diags.append([int(m["line"]), int(m["col"]), _SEVERITY[m["sev"]], [m["msg"]]])
        elif (m := _NOTE.match(line)) and diags:
            diags[-1][3].append(f"note: {m['note']}")
    return [(line, col, sev, "\n".join(text)) for line, col, sev, text in diags]


def _lsp_diagnostics(client: LanguageClient, uri: str) -> list[tuple]:
    return [
        (d.range.start.line + 1, d.range.start.character + 1, int(d.severity), d.message)
        for d in client.diagnostics[uri]
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "spec", ["residual_channels", "unknown_names", "syntax_errors_many", "concat_mismatch"]
)
async def test_diagnostics_on_open_are_the_cli_s(client, spec):
    path = ROOT / "tests" / "bad" / f"{spec}.isp"
    uri = await _open(client, path)
    expected = _cli_diagnostics(f"tests/bad/{spec}.isp")
    assert expected  # every bad spec has at least one
    assert _lsp_diagnostics(client, uri) == expected
    assert all(d.source == "inspec" for d in client.diagnostics[uri])


@pytest.mark.asyncio
async def test_diagnostics_on_change(client, tmp_path):
    """The issue's case: a missing space (`w=widthexpect output=...`) shows up as it is typed."""
    good = "network n(width = 16)\ninput 8x8x3\nconv 3x3 width  expect output=8x8x16\n"
    bad = "network n(width = 16)\ninput 8x8x3\nconv 3x3 w=widthexpect output=8x8x16\n"
    path = tmp_path / "typo.isp"
    uri = await _open(client, path, good)
    assert list(client.diagnostics[uri]) == []
    client.text_document_did_change(
        T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(version=2, uri=uri),
            [T.TextDocumentContentChangeWholeDocument(bad)],
        )
    )
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    path.write_text(bad)
    expected = _cli_diagnostics(str(path))
    assert expected and any(sev == 1 for _, _, sev, _ in expected)
    assert _lsp_diagnostics(client, uri) == expected
    # fixed again: the errors go
    client.text_document_did_change(
        T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(version=3, uri=uri),
            [T.TextDocumentContentChangeWholeDocument(good)],
        )
    )
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []


def _table_rows(spec: str) -> dict[str, dict]:
    out = run_cli("table", "-f", "json", spec).stdout
    return {row["name"]: row for row in json.loads(out)["rows"]}


def _line_of(path: Path, pattern: str) -> int:
    """The 0-based line of the first line of the file that matches."""
    for i, line in enumerate(path.read_text().splitlines()):
        if re.search(pattern, line):
            return i
    raise AssertionError(f"{pattern!r} not in {path}")


def _figures(markdown: str) -> dict[str, int]:
    return {
        k: int(v.replace(",", ""))
        for k, v in re.findall(r"(params|weights|ops) ([\d,]+)", markdown)
    }


async def _hover(client, uri: str, line: int, char: int) -> str:
    result = await client.text_document_hover_async(
        T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(line, char))
    )
    assert result is not None
    return result.contents.value


@pytest.mark.asyncio
async def test_hover_on_a_conv_row(client):
    uri = await _open(client, GOOGLENET)
    text = await _hover(client, uri, _line_of(GOOGLENET, r"^conv\s+\(conv1\)"), 2)
    row = _table_rows("specs/googlenet.isp")["conv1"]
    assert "`224x224x3` → `112x112x64`" in text
    assert row["output"] == [112, 112, 64]
    assert _figures(text) == {k: row[k] for k in ("params", "weights", "ops")}
    assert "module `conv1`" in text
    assert "`kernel=7x7`" in text and "`stride=2`" in text and "`out=64`" in text


@pytest.mark.asyncio
async def test_hover_on_a_block_call(client):
    uri = await _open(client, GOOGLENET)
    line = _line_of(GOOGLENET, r"^inception\s+\(3a\)")
    text = await _hover(client, uri, line, 3)
    row = _table_rows("specs/googlenet.isp")["inception3a"]
    assert "`28x28x192` → `28x28x256`" in text
    assert _figures(text) == {k: row[k] for k in ("params", "weights", "ops")}
    # the block's header strings over the argument values, as the paper's columns
    header, _, values = [ln for ln in text.splitlines() if ln.startswith("|")]
    cells = [c.strip() for c in header.strip("|").split("|")]
    got = [int(c) for c in values.strip("|").split("|")]
    assert dict(zip(cells, got, strict=True)) == row["args"]
    assert "block `inception`, defined at specs/blocks/googlenet.isp:" in text


@pytest.mark.asyncio
async def test_hover_on_a_repeat_lists_its_instances(client):
    """`4 x inception_a` in Inception-v4's `seq features`: the instances by module path (timm's
    features.6 .. features.9), each with its shapes, from the count on the row's line too."""
    spec = ROOT / "specs" / "inception_v4.isp"
    uri = await _open(client, spec)
    text = await _hover(client, uri, _line_of(spec, r"^\s+4 x inception_a"), 2)
    assert text.startswith("**inception_a** — module `features.6`")
    assert "`35x35x384` → `35x35x384`" in text
    assert "4 distinct instances (alike ones are listed once); the others:" in text
    for i in (7, 8, 9):
        assert f"- `features.{i}`: `35x35x384` → `35x35x384`" in text


@pytest.mark.asyncio
async def test_hover_in_a_block_library(client):
    """A library alone has no network: a row of a block shows its attributes as written."""
    uri = await _open(client, BLOCKS)
    line = _line_of(BLOCKS, r"branch \{ conv 1x1 n3x3red")
    text = await _hover(client, uri, line, len("  branch { con"))
    assert text.startswith("**convolution**")
    assert "`out=n3x3red`" in text and "`kernel=1x1`" in text
    assert "a block definition: its shapes and costs show where a network calls it" in text


@pytest.mark.asyncio
async def test_definition_across_an_import(client):
    uri = await _open(client, GOOGLENET)
    line = _line_of(GOOGLENET, r"^inception\s+\(3a\)")
    result = await client.text_document_definition_async(
        T.DefinitionParams(T.TextDocumentIdentifier(uri), T.Position(line, 4))
    )
    assert len(result) == 1
    assert result[0].uri == BLOCKS.as_uri()
    assert result[0].range.start.line == _line_of(BLOCKS, r"^block inception\(")
    # the import's path leads to the file
    imp = _line_of(GOOGLENET, r"^import ")
    result = await client.text_document_definition_async(
        T.DefinitionParams(T.TextDocumentIdentifier(uri), T.Position(imp, 10))
    )
    assert [r.uri for r in result] == [BLOCKS.as_uri()]


async def _complete(client, uri, line, char) -> dict[str, T.CompletionItem]:
    result = await client.text_document_completion_async(
        T.CompletionParams(T.TextDocumentIdentifier(uri), T.Position(line, char))
    )
    return {item.label: item for item in result.items}


@pytest.mark.asyncio
async def test_completion(client):
    text = GOOGLENET.read_text() + "\nconv 3x3 64 \nconv 3x3 64 act=\n\n"
    # an unsaved document beside googlenet.isp (its import resolves from there)
    uri = await _open(client, ROOT / "specs" / "untitled.isp", text)
    n = len(text.split("\n"))
    # a statement's start: every op, the blocks in scope (imported ones too), the keywords
    start = await _complete(client, uri, n - 2, 0)
    assert set(ROW_OPS) | {"inception", "reduced_conv", "aux", "branch", "residual"} <= set(start)
    assert start["inception"].kind == T.CompletionItemKind.Class
    # after a row's type: the op's attributes and the network's parameters
    after = await _complete(client, uri, n - 4, len("conv 3x3 64 "))
    assert {"stride", "act", "groups", "num_classes", "dropout", "aux_logits"} <= set(after)
    assert after["stride"].insert_text == "stride="
    assert "conv" not in after
    # after `act=`: the activation words
    act = await _complete(client, uri, n - 3, len("conv 3x3 64 act="))
    assert set(ACT_WORDS) <= set(act)
    assert "stride" not in act


@pytest.mark.asyncio
async def test_completion_in_a_block_offers_its_parameters(client):
    uri = await _open(client, BLOCKS)
    line = _line_of(BLOCKS, r"branch \{ conv 1x1 n3x3red")
    items = await _complete(client, uri, line, len("  branch { conv 1x1 "))
    assert {"n3x3red", "n1x1", "pool_proj", "in", "stride"} <= set(items)


async def _format(client, uri: str) -> list[T.TextEdit]:
    edits = await client.text_document_formatting_async(
        T.DocumentFormattingParams(T.TextDocumentIdentifier(uri), T.FormattingOptions(2, True))
    )
    return list(edits or [])


@pytest.mark.asyncio
async def test_formatting(client, tmp_path):
    """Formatting is `inspec fmt`'s (format_text): one edit holding the whole formatted text."""
    from inspec.language.fmt import format_text

    messy = "network   n(width = 16)\ninput 8x8x3\nconv   3x3   width\n"
    uri = await _open(client, tmp_path / "messy.isp", messy)
    edits = await _format(client, uri)
    expected = format_text(messy, str(tmp_path / "messy.isp")).text
    assert expected == "network n(width = 16)\ninput 8x8x3\nconv 3x3 width\n"
    assert len(edits) == 1 and edits[0].new_text == expected
    assert edits[0].range == T.Range(T.Position(0, 0), T.Position(3, 0))
    # formatted already, or not parsing: no edits
    tidy = await _open(client, tmp_path / "tidy.isp", expected)
    assert await _format(client, tidy) == []
    broken = await _open(client, tmp_path / "broken.isp", "network n\ninput 8x8x3\nconv 3x3 w=(\n")
    assert await _format(client, broken) == []


def test_lsp_without_pygls_says_what_to_install():
    code = (
        "import sys; sys.modules['pygls'] = None; sys.argv = ['inspec', 'lsp']; "
        "from inspec.cli import main; main()"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == "inspec lsp needs pygls: pip install inspec[lsp]"


def test_the_server_does_not_import_torch():
    code = (
        "import sys; import inspec.lsp.server, inspec.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'graphviz', 'jinja2')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_the_formatting_edit_covers_the_document_whatever_its_line_ends(end):
    """LSP counts \\r, \\r\\n and \\n as line ends: the edit's range ends at the document's end."""
    from inspec.lsp.features import formatting

    text = end.join(["network n", "input 8x8x3", "conv   3x3 16", ""])
    (edit,) = formatting(text, "<doc>")
    assert (edit.range.end.line, edit.range.end.character) == (3, 0)
    assert edit.new_text == end.join(["network n", "input 8x8x3", "conv 3x3 16", ""])
