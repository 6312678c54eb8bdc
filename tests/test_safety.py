"""Safety: resource guards, injection into generated code and DOT, determinism, and safe output files."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspec import fileio
from inspec.analysis.elaborate import elaborate

ROOT = Path(__file__).resolve().parent.parent
HEAD = "network n\ninput 16x16x3\n"


def _cli(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "inspec", *map(str, args)],
        capture_output=True,
        text=True,
        errors="replace",
        cwd=cwd or ROOT,
        timeout=120,
        env=env,
    )


# ------------------------------------------------------------------------------------------------
# Resource guards: absurd sizes are rejected fast, with a located, clear diagnostic


def _chain(n, calls=1):
    body = "; ".join(["b{k1}"] * calls)
    return "".join(f"block b{k} {{ {body.format(k1=k + 1)} }}\n" for k in range(n)) + (
        f"block b{n} {{ conv 1x1 4 }}\n"
    )


GUARDS = {
    "1e9 input channels": (HEAD.replace("16x16x3", "16x16x1000000000"), "out of range"),
    "1e9 conv channels": (HEAD + "conv 3x3 1000000000\n", "at most"),
    "1e9 linear features": (HEAD + "linear 1000000000\n", "at most"),
    "repeat of 1e7": (HEAD + "10000000 x conv 3x3 4\n", "repeat count"),
    "1e5 x 1e5 input": (HEAD.replace("16x16x3", "100000x100000x3"), "out of range"),
    "huge kernel": (HEAD + "conv 100000x100000 4\n", "between 1 and"),
    "huge stride": (HEAD + "conv 3x3/100000 4\n", "between 1 and"),
    "huge padding": (HEAD + "conv 3x3 4 pad=1000000\n", "between 0 and"),
    "huge dilation": (HEAD + "conv 3x3 4 dilation=1000000\n", "at most"),
    "self recursion": ("block a { a }\n" + HEAD + "a\n", "recursive block"),
    "mutual recursion": ("block a { b }\nblock b { a }\n" + HEAD + "a\n", "recursive block"),
    "100 nested blocks": (_chain(100) + HEAD + "b0\n", "nested deeper"),
    "5000 nested branches": (HEAD + "branch { " * 5000 + "relu" + " }" * 5000 + "\n", "nesting"),
    "5000 nested residuals": (HEAD + "residual { " * 5000 + "relu" + " }" * 5000 + "\n", "nesting"),
    "2^30 fan-out": (_chain(30, calls=2) + HEAD + "b0\n", "layers"),
    "2^30 fan-out with args": (
        "".join(f"block f{k}(c) {{ f{k + 1} c; f{k + 1} (c + 1) }}\n" for k in range(30))
        + "block f30(c) { conv 1x1 4 }\n"
        + HEAD
        + "f0 1\n",
        "layers",
    ),
    "repeat of repeats": (
        "block r { 10000 x relu }\nblock s { 10000 x r }\n" + HEAD + "10000 x s\n",
        "layers",
    ),
    "2^46 parameters": ("network n\ninput 8192x8192x1\nflatten\nlinear 1048576\n", "parameters"),
    "1e17 parameters": (HEAD + "10000 x conv 3x3 1048576\n", "parameters"),
    "huge flatten": ("network n\ninput 65536x65536x1024\nflatten\n", "larger"),
    "huge source": (HEAD + "# " + "x" * 5_000_000 + "\n", "larger than"),
    "many syntax errors in a long file": (
        HEAD + "conv 3x3 8\n" * 3000 + "conv 3x3 ) 8\n" * 50,
        "unexpected",
    ),
}


@pytest.mark.parametrize("name", sorted(GUARDS))
def test_resource_guard(name):
    text, words = GUARDS[name]
    t0 = time.process_time()  # CPU time, so that a loaded machine does not make this flaky
    net = elaborate(text=text, name="guard.isp")
    elapsed = time.process_time() - t0
    errors = [d for d in net.diagnostics if d.is_error]
    assert errors, "accepted"
    assert any(words in d.message for d in errors), [d.message for d in errors]
    lines = text.count("\n") + 1
    for d in errors:
        assert d.span is not None and d.span.file == "guard.isp", d.message
        assert 1 <= d.span.line <= lines + 1 and d.span.col >= 1
    assert elapsed < 1.0, f"{elapsed:.2f}s"


def test_guards_hold_through_the_cli(tmp_path):
    """compile and diagram refuse an exponential spec before generating or rendering anything."""
    spec = tmp_path / "fan.isp"
    spec.write_text(GUARDS["2^30 fan-out"][0])
    for cmd in (
        ["compile", spec, "-o", tmp_path / "fan.py"],
        ["diagram", spec, "-o", tmp_path / "f.svg"],
    ):
        t0 = time.perf_counter()
        r = _cli(*cmd)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "layers" in r.stderr
        assert time.perf_counter() - t0 < 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fan.isp"]


# ------------------------------------------------------------------------------------------------
# Injection: nothing in a spec becomes code in the generated Python or breaks the DOT

HOSTILE = r"""# D3 Q3; import os; os.system("echo pwned") \
network __import__(import_ = 3 "\", self = 2 "Q3 + __import__('os').system('x') + Q3", x = 4 "\\", torch = 1 "</script>{}${x}%s", nn = 2 "#\nimport os", y = 2 "")
input 16x16x3
block exec(__class__ "Q3 ", class "\N{", F "{{ x }} {% raw %} -->", in_ = 1 "<b>&amp;</b> ]]>") {
  conv (os.system) 3x3 __class__
  branch __init__ { conv 1x1 class }
  branch forward { conv 1x1 F }
}
block self(lambda) { conv (import) 1x1 lambda }
exec (eval) __class__=import_ class=self F=x
exec (__dict__) 1 2 3
self (_-x.y) torch
conv (1a) 1x1 nn
maxpool global
linear 0 + x
""".replace("Q3", "'''").replace("D3", '"""')
ALLOWED_IMPORTS = {
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "typing",
    "math",
    "__future__",
    "collections",
}
FORBIDDEN_NAMES = {
    "os",
    "system",
    "__import__",
    "eval",
    "exec",
    "compile",
    "open",
    "getattr",
    "setattr",
    "globals",
    "locals",
    "builtins",
    "subprocess",
}


def _check_python(source: str) -> None:
    tree = ast.parse(source)
    for node in tree.body:
        assert isinstance(
            node,
            (
                ast.Import,
                ast.ImportFrom,
                ast.ClassDef,
                ast.FunctionDef,
                ast.Expr,
                ast.Assign,
                ast.AnnAssign,
            ),
        ), ast.dump(node)[:200]
        if isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant)  # a docstring, nothing that runs
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= ALLOWED_IMPORTS, ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            assert node.module in ALLOWED_IMPORTS, ast.dump(node)
        elif isinstance(node, ast.Name):
            assert node.id not in FORBIDDEN_NAMES, node.id
        elif isinstance(node, ast.Attribute):
            assert node.attr not in FORBIDDEN_NAMES - {"eval", "compile"}, node.attr


def _hostile_nets():
    yield "names and strings", HOSTILE, "hostile.isp"
    yield "file name", HEAD + "conv 3x3 4\n", 'x"""\nimport os\nos.system("pwned")\n#.isp'


@pytest.mark.parametrize("case", [c[0] for c in _hostile_nets()])
def test_no_injection_into_python(case):
    _, text, name = next(c for c in _hostile_nets() if c[0] == case)
    net = elaborate(text=text, name=name)
    assert net.ok, [d.render(net.sources) for d in net.diagnostics if d.is_error]
    from inspec.backends.torch import build_module, generate

    source = generate(net)
    _check_python(source)
    model = build_module(net)  # runs the generated code: nothing but the module definitions
    import torch

    model.eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 16, 16))


@pytest.mark.parametrize("case", [c[0] for c in _hostile_nets()])
@pytest.mark.parametrize("detail", ["network", "blocks"])
def test_no_injection_into_dot(case, detail, tmp_path):
    _, text, name = next(c for c in _hostile_nets() if c[0] == case)
    net = elaborate(text=text, name=name)
    from inspec.backends.diagram import to_dot

    dot = to_dot(net, detail=detail)
    (tmp_path / "g.dot").write_text(dot, encoding="utf-8")
    r = subprocess.run(["dot", "-Tsvg", str(tmp_path / "g.dot")], capture_output=True, timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr.decode(errors="replace")
    assert b"pwned" not in r.stdout or b"os.system" in r.stdout  # only ever as escaped text


def test_control_characters_in_strings_are_refused():
    """Terminal escapes, DEL, CR, form feed in a string never reach the Python, the DOT or a terminal:
    the lexer refuses them, at their place."""
    text = HEAD.replace("network n", 'network n(a = 1 "\x1b[2J \x7f \r \x0c")') + "conv 3x3 a\n"
    net = elaborate(text=text, name="ctl.isp")
    (e,) = net.diagnostics
    assert e.is_error and (e.span.line, e.span.col) == (1, 17)
    assert "no control characters" in e.notes[0]


def test_string_with_nul_byte():
    """A NUL inside a spec string: the Python and the DOT escape it (or the spec is refused)."""
    text = (
        'block b(c "in\x00block") { conv 1x1 c }\n'
        + HEAD.replace("network n", 'network n(a = 1 "before\x00after")')
        + "b a\n"
    )
    net = elaborate(text=text, name="nul.isp")
    if not net.ok:
        assert all(d.span is not None for d in net.diagnostics)
        return
    from inspec.backends.diagram import to_dot
    from inspec.backends.torch import generate

    assert "\x00" not in generate(net)
    assert "\x00" not in to_dot(net, detail="blocks")


# ------------------------------------------------------------------------------------------------
# Determinism: byte-identical Python, DOT and tables across runs and hash seeds

_DIGEST = r"""
import hashlib, sys
sys.path.insert(0, ".")
from inspec.analysis.elaborate import elaborate
from inspec.backends.torch import generate
from inspec.backends.diagram import to_dot
from inspec.backends.table import RENDERERS
from tests.strategies import random_spec
nets = [elaborate(path=p) for p in ("specs/googlenet.isp", "specs/inception_v4.isp", "specs/alexnet.isp")]
valid = [s for s in range(60) if random_spec(s).refuse is None][:3]  # specs inspec must accept
nets += [elaborate(text=random_spec(s).text, name="gen.isp") for s in valid]
for net in nets:
    outs = [to_dot(net, detail=d) for d in ("network", "blocks")]
    outs += [RENDERERS[f](net, g, net.units) for f in RENDERERS for g in ("rows", "layers")]
    try:
        outs.append(generate(net))
    except Exception as e:
        outs.append(type(e).__name__)
    print(net.name, hashlib.sha256("\x00".join(outs).encode()).hexdigest())
"""


def test_outputs_identical_across_hash_seeds():
    digests = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = subprocess.run(
            [sys.executable, "-c", _DIGEST],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        digests.add(r.stdout)
    assert len(digests) == 1, digests


def test_cli_outputs_identical_across_runs(tmp_path):
    outs = []
    for k, seed in enumerate(("0", "7")):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        py, dot = tmp_path / f"g{k}.py", tmp_path / f"g{k}.dot"
        assert _cli("compile", "specs/googlenet.isp", "-o", py, "-q", env=env).returncode == 0
        assert _cli("diagram", "specs/googlenet.isp", "-o", dot, env=env).returncode == 0
        table = _cli("table", "specs/googlenet.isp", "-f", "json", env=env).stdout
        outs.append((py.read_bytes(), dot.read_bytes(), table))
    assert outs[0] == outs[1]


# ------------------------------------------------------------------------------------------------
# Files: never overwrite what inspec did not write; atomic; clear one-line errors

GOOD = HEAD + "conv 3x3 8\n"
BAD = HEAD + "conv 3x3 oops\n"


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "net.isp"
    p.write_text(GOOD)
    return p


def _one_line_error(r):
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("inspec: error: "), r.stderr
    return lines[0]


COMMANDS = {
    "compile": lambda spec, out: ["compile", spec, "-o", out, "-q"],
    "diagram": lambda spec, out: ["diagram", spec, "-o", out, "-f", "dot"],
}


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_refuses_to_overwrite_a_foreign_file(cmd, spec, tmp_path):
    out = tmp_path / "mine.txt"
    out.write_text("precious\n")
    msg = _one_line_error(_cli(*COMMANDS[cmd](spec, out)))
    assert "not generated by inspec" in msg
    assert out.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "net.isp"]


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_overwrites_its_own_output(cmd, spec, tmp_path):
    out = tmp_path / "out.txt"
    assert _cli(*COMMANDS[cmd](spec, out)).returncode == 0
    first = out.read_bytes()
    assert fileio.MARKER.encode() in first
    assert _cli(*COMMANDS[cmd](spec, out)).returncode == 0
    assert out.read_bytes() == first


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_refuses_to_overwrite_the_spec(cmd, spec):
    _one_line_error(_cli(*COMMANDS[cmd](spec, spec)))
    assert spec.read_text() == GOOD


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_missing_directory(cmd, spec, tmp_path):
    msg = _one_line_error(_cli(*COMMANDS[cmd](spec, tmp_path / "nowhere" / "out.txt")))
    assert "does not exist" in msg
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_read_only_location(cmd, spec, tmp_path):
    if os.geteuid() == 0:
        target = Path("/proc/inspec-test-output.txt")  # root may write anywhere but /proc
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = ro / "out.txt"
    try:
        msg = _one_line_error(_cli(*COMMANDS[cmd](spec, target)))
        assert str(target.parent) in msg
        assert not target.exists()
    finally:
        if os.geteuid() != 0:
            target.parent.chmod(0o755)


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_failed_run_writes_nothing(cmd, tmp_path):
    bad = tmp_path / "bad.isp"
    bad.write_text(BAD)
    r = _cli(*COMMANDS[cmd](bad, tmp_path / "out.txt"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.isp"]


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_output_is_a_directory(cmd, spec, tmp_path):
    """-o names a folder: the output goes in it under its default name; a folder that does not exist
    (written with a trailing /) is an error, not a file of that name."""
    out = tmp_path / "out"
    out.mkdir()
    r = _cli(*COMMANDS[cmd](spec, out))
    assert r.returncode == 0, r.stderr
    (written,) = out.iterdir()
    assert written.suffix in (".py", ".dot") and r.stdout == f"wrote {written}\n"
    missing = f"{tmp_path / 'missing'}/"
    r = _cli(*COMMANDS[cmd](spec, missing))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"directory {tmp_path / 'missing'} does not exist" in r.stderr
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_write_is_atomic(tmp_path, monkeypatch, failure):
    """A failure half-way leaves the old file as it was and no temporary file behind."""
    target = tmp_path / "out.py"
    fileio.write_atomic(target, f"# {fileio.MARKER}\nold\n")

    def boom(*a, **k):
        raise failure

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises((fileio.OutputError, KeyboardInterrupt)):
        fileio.write_atomic(target, f"# {fileio.MARKER}\nnew\n" + "x" * 1_000_000)
    assert target.read_text() == f"# {fileio.MARKER}\nold\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.py"]


def test_symlink_to_a_foreign_file_is_refused(tmp_path, spec):
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("precious\n")
    link = tmp_path / "link.py"
    link.symlink_to(foreign)
    _one_line_error(_cli("compile", spec, "-o", link, "-q"))
    assert foreign.read_text() == "precious\n" and link.is_symlink()
