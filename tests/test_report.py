"""`inspec report`: the HTML page, loaded in headless Chromium (its DOM, its layout, its console), and
the command's exit codes and safe writes."""

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from inspec.analysis.elaborate import elaborate
from inspec.backends.report import ReportError, render_report, used_blocks
from inspec.backends.table import rows, to_json
from inspec.backends.torch import generate
from inspec.fileio import HTML_HEADER, is_marked
from tests.conftest import SPECS, run_cli

CHROMIUM = "/usr/bin/chromium"
WINDOW = (1280, 800)  # a laptop's screen
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: "Element | None"):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str | None = None):
        for c in self.children:
            if isinstance(c, Element):
                if tag is None or c.tag == tag:
                    yield c
                yield from c.iter(tag)

    def find(self, tag: str, **attrs: str) -> "Element":
        found = [e for e in self.iter(tag) if all(e.attrs.get(k) == v for k, v in attrs.items())]
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _TreeBuilder(HTMLParser):
    """The serialized DOM that Chromium dumps, as a tree of Elements (SVG's void-free XML included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.at = Element("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        el = Element(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(el)
        if tag not in VOID:
            self.at = el

    def handle_startendtag(self, tag, attrs):
        self.at.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.at))

    def handle_endtag(self, tag):
        el = self.at
        while el.parent is not None and el.tag != tag:
            el = el.parent
        if el.parent is not None:
            self.at = el.parent

    def handle_data(self, data):
        self.at.children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    return builder.root


# What the test adds to a copy of the page (the page itself holds no script, and its policy forbids
# one): after load, the layout at laptop width, logged to the console and set on <body>.
PROBE = """<script>
window.addEventListener("load", () => {
  const doc = document.documentElement;
  const figures = [...document.querySelectorAll("figure")].map((f) => {
    const svg = f.querySelector("svg").getBoundingClientRect();
    return {id: f.id, width: svg.width, height: svg.height, room: f.getBoundingClientRect().width,
            nodes: f.querySelectorAll("g.node").length};
  });
  const probe = {scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth, figures};
  document.body.dataset.probe = JSON.stringify(probe);
  console.log("inspec-probe " + JSON.stringify(probe));
});
</script>
"""


def chromium(page) -> tuple[str, list[str]]:
    """The DOM Chromium builds from the page (after load), and the console lines it logged."""
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def probed(page, tmp_path) -> tuple[Element, dict]:
    """The page loaded with PROBE added (its policy let that one inline script run): the DOM and
    the layout the probe measured; nothing else may reach the console."""
    html = page.read_text()
    policy = "default-src 'none'; style-src 'unsafe-inline'"
    assert html.count(policy) == 1
    copy = tmp_path / f"probed-{page.name}"
    copy.write_text(
        html.replace(policy, policy + "; script-src 'unsafe-inline'").replace(
            "</body>", PROBE + "</body>"
        )
    )
    dom, console = chromium(copy)
    assert len(console) == 1 and "inspec-probe " in console[0], console
    body = next(parse(dom).iter("body"))
    return body, json.loads(body.attrs["data-probe"])


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The reports of GoogLeNet (paper units, an audit, side heads, warnings) and Inception-v4."""
    out = tmp_path_factory.mktemp("report")
    made = {}
    for name, spec in (("googlenet", "googlenet.isp"), ("inception_v4", "inception_v4.isp")):
        proc = run_cli("report", str(SPECS / spec), cwd=out)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"wrote {name}.html\n"
        made[name] = out / f"{name}.html"
    return made


def _check_self_contained(html: str, dom: Element) -> None:
    """Nothing to fetch: no script, stylesheet link or font; every src/href a link within the page."""
    assert html.startswith(HTML_HEADER + "\n<html")
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", html)
    assert "@import" not in html and "url(" not in html.replace("url(#", "")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?:""", html, re.I)
    ids = [e.attrs["id"] for e in dom.iter() if "id" in e.attrs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for e in dom.iter():
        for key, value in e.attrs.items():
            if key in ("src", "href", "xlink:href"):
                assert value.startswith("#") and value[1:] in ids, (key, value)


def test_googlenet_page_in_chromium(pages, tmp_path, monkeypatch):
    page = pages["googlenet"]
    html = page.read_text()
    dom_text, console = chromium(page)
    assert console == []  # no error, no blocked fetch (the policy would have logged it)
    dom = parse(dom_text)
    _check_self_contained(html, dom)
    assert dom.find("head").find("title").text() == "googlenet: inspec report"
    assert dom.find("h1").text() == "googlenet"
    facts = dom.find("dl", **{"class": "facts"}).text()
    assert "224x224x3" in facts and "6,998,552 (13,378,280 with side heads)" in facts
    assert "num_classes = 1000" in facts and "aux_logits = true" in facts

    # the table: the rows of `inspec table` (its JSON, another renderer), in order, in paper units
    net = elaborate(path=str(SPECS / "googlenet.isp"))
    table = dom.find("table", **{"class": "spec-table"})
    body = [[td.text() for td in tr.iter("td")] for tr in next(table.iter("tbody")).iter("tr")]
    want = to_json(net)["rows"]
    assert [r[0] for r in body] == [r["type"] for r in want]
    assert [r[2] for r in body] == ["x".join(map(str, r["output"])) for r in want]
    head = [th.text() for th in table.iter("th")]
    row3a = dict(zip(head, body[[r[0] for r in body].index("inception (3a)")], strict=True))
    assert row3a["output size"] == "28x28x256" and row3a["#5x5 reduce"] == "16"
    assert row3a["params"] == "160K" and row3a["paper (printed vs computed)"] == "agrees"
    totals = [[td.text() for td in tr.iter("td")] for tr in next(table.iter("tfoot")).iter("tr")]
    assert totals[0][0] == "total" and "6835K" in totals[0] and "1583M" in totals[0]
    assert totals[1][0] == "total with side heads"

    # the audit: every value the rows expect (44 on 19 rows, 12 off: the weights column, mostly)
    checks = [c for tr in rows(net) for c in tr.checks]
    n, bad = len(checks), sum(not c.ok for c in checks)
    audited = sum(bool(tr.checks) for tr in rows(net))
    assert (n, audited, bad) == (44, 19, 12)
    audit = dom.find("section", id="audit")
    assert f"{n} printed values on {audited} rows" in audit.text()
    assert f"{n - bad} agree, {bad} differ" in audit.text()
    differs = audit.find("table", **{"class": "audit-table differs"})
    off = [[td.text() for td in tr.iter("td")] for tr in next(differs.iter("tbody")).iter("tr")]
    assert len(off) == bad
    assert ["inception3b", "inception (3b)", "weights", "380K", "379.00K"] in off
    every = audit.find("table", **{"class": "audit-table all"})
    assert sum(td.text() in ("agrees", "differs") for td in every.iter("td")) == n

    # the diagrams: the network and each block it uses, inline, every node of the DOT drawn
    figures = list(dom.find("section", id="diagrams").iter("figure"))
    assert [f.attrs["id"] for f in figures] == [
        "fig-network",
        "fig-block-reduced_conv",
        "fig-block-inception",
        "fig-block-aux",
    ]
    for f in figures:
        (svg,) = f.iter("svg")
        assert "viewbox" in svg.attrs and len([g for g in svg.iter("g") if "node" in g.classes()])
    network = figures[0]
    titles = {t.text() for g in network.iter("g") if "node" in g.classes() for t in g.iter("title")}
    assert {"n:conv1", "n:inception3a", "n:inception5b", "n:aux1", "n:fc"} <= titles
    block = figures[2].text()
    assert all(f"1x1/1, {n}" in block for n in (64, 96, 16, 32)) and "concat" in block

    # the code: exactly the module `inspec compile` writes beside the page (escaping undone)
    code = dom.find("section", id="code").find("pre").find("code").text()
    monkeypatch.chdir(page.parent)  # where the page was written from
    assert code == generate(net, output=page.name)
    assert "class Googlenet(nn.Module):" in code and "class Inception(nn.Module):" in code

    # the diagnostics: the 12 warnings and 5 notes of `inspec check`, as it prints them
    shown = [p.text() for p in dom.find("section", id="diagnostics").iter("pre")]
    assert shown == [d.render(net.sources) for d in net.diagnostics]
    assert sum(s.split(": ", 2)[1] == "warning" for s in shown) >= 12  # the audit's, at least

    # the contents link every section and figure
    links = [a.attrs["href"] for a in dom.find("nav").iter("a")]
    assert {
        "#table",
        "#audit",
        "#diagrams",
        "#code",
        "#diagnostics",
        "#fig-block-inception",
    } <= set(links)

    # the layout at laptop width: no sideways scrolling, every diagram within its column
    _, probe = probed(page, tmp_path)
    assert probe["scrollWidth"] <= probe["clientWidth"] <= WINDOW[0]  # less a scroll bar
    assert len(probe["figures"]) == 4
    for f in probe["figures"]:
        assert 0 < f["width"] <= f["room"] + 0.5 and f["height"] > 0 and f["nodes"] > 0, f


def test_inception_v4_page_in_chromium(pages, tmp_path):
    page = pages["inception_v4"]
    net = elaborate(path=str(SPECS / "inception_v4.isp"))
    dom, probe = probed(page, tmp_path)
    _check_self_contained(page.read_text(), dom)
    blocks = used_blocks(net)
    assert blocks == [
        "mixed_3a",
        "mixed_4a",
        "mixed_5a",
        "inception_a",
        "reduction_a",
        "inception_b",
        "reduction_b",
        "inception_c",
    ]  # blocks/inception.isp also holds Inception-ResNet's, which this network does not call
    assert [f["id"] for f in probe["figures"]] == ["fig-network"] + [
        f"fig-block-{b}" for b in blocks
    ]
    assert probe["scrollWidth"] <= probe["clientWidth"]
    for f in probe["figures"]:
        assert 0 < f["width"] <= f["room"] + 0.5 and f["nodes"] > 0, f
    table = dom.find("table", **{"class": "spec-table"})
    types = [next(tr.iter("td")).text() for tr in next(table.iter("tbody")).iter("tr")]
    assert any(t.startswith("features.6..9: 4 x inception_a") for t in types)
    assert "class InceptionV4(nn.Module):" in dom.find("section", id="code").text()
    audit = dom.find("section", id="audit").text()
    assert "on 13 rows" in audit and ", 0 differ" in audit
    assert "finds nothing to say" in dom.find("section", id="diagnostics").text()


def test_rerun_is_identical_and_a_users_file_is_safe(pages, tmp_path):
    spec = str(SPECS / "googlenet.isp")
    out = tmp_path / "googlenet.html"
    proc = run_cli("report", spec, "-o", str(out))
    assert proc.returncode == 0
    first = out.read_bytes()
    again = run_cli("report", spec, "-o", str(out))  # its own file: overwritten without --force
    assert again.returncode == 0 and out.read_bytes() == first  # the same bytes, run after run
    # the page differs from the fixture's only in the module's header: the spec's path from the
    # page's folder (what `inspec compile` writes beside the page)
    assert pages["googlenet"].read_bytes().count(b"\n") == first.count(b"\n")
    mine = tmp_path / "notes.html"
    mine.write_text("<!DOCTYPE html>\n<p>my notes</p>\n")
    proc = run_cli("report", spec, "-o", str(mine))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "exists and was not generated by inspec; use --force" in proc.stderr
    assert mine.read_text() == "<!DOCTYPE html>\n<p>my notes</p>\n"
    # the marker counts only where inspec writes it: the page's first two lines
    assert is_marked(first[:200], b"")
    assert not is_marked(b"<p>quoting it:</p>\n" + first[:200], b"")
    assert not is_marked(HTML_HEADER.encode() + b"<p>", b"")
    assert run_cli("report", spec, "-o", str(mine), "--force").returncode == 0
    assert mine.read_bytes() == first
    proc = run_cli("report", spec, "-o", spec)
    assert proc.returncode == 1 and "refusing" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["googlenet.html", "notes.html"]


SMALL = "network small(width = 16)\ninput 32x32x3\nconv (stem) 3x3 width\nmaxpool 2x2/2\n"


def test_stdin_stdout_units_and_params(tmp_path):
    proc = run_cli("report", "-", "-o", "-", "-p", "width=8", input=SMALL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(HTML_HEADER + "\n") and "<code>width = 8</code>" in proc.stdout
    dom = parse(proc.stdout)
    first = next(next(dom.find("table", **{"class": "spec-table"}).iter("tbody")).iter("tr"))
    assert [td.text() for td in first.iter("td")][:3] == [
        "convolution (stem)",
        "3x3/1",
        "32x32x8",
    ]
    assert "no values to audit" in dom.find("section", id="audit").text()
    assert [f.attrs["id"] for f in dom.iter("figure")] == ["fig-network"]  # no blocks
    spec = str(SPECS / "googlenet.isp")
    exact = run_cli("report", spec, "-u", "exact", "-o", str(tmp_path / "g.html"))
    assert exact.returncode == 0
    assert "6,998,552" in (tmp_path / "g.html").read_text().split('class="spec-table"')[1]


def test_bad_input_exits_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.isp"
    bad.write_text("network x\ninput 8x8x3\nconv 3x3 16 groups=5\n")
    lib = tmp_path / "lib.isp"
    lib.write_text("block b(n) { conv 1x1 n }\n")
    spec = str(SPECS / "googlenet.isp")
    cases = [
        (("report", str(bad)), 1, f"{bad}:3:1: error: groups=5 does not divide"),
        (("report", str(lib)), 1, "is a block library: it has no network to report"),
        (("report", str(tmp_path / "none.isp")), 2, "does not exist"),
        (("report", spec, "-p", "num_clases=10"), 2, "did you mean 'num_classes'?"),
    ]
    for args, code, said in cases:
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == code and said in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    # without Graphviz's dot there are no diagrams, so no page (and nothing half-written)
    proc = run_cli("report", spec, cwd=tmp_path, env={"PATH": str(tmp_path / "empty")})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "inspec: error: cannot draw googlenet: Graphviz's 'dot' program was not found" in (
        proc.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.isp", "lib.isp"]


def test_report_never_imports_torch(tmp_path):
    out = tmp_path / "g.html"
    args = ["report", "specs/googlenet.isp", "-o", str(out)]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "inspec", *args],
        cwd=SPECS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and out.exists(), proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "inspec.backends.report" in imported
    assert not {m for m in imported if m.split(".")[0] in ("torch", "graphviz", "numpy")}


def test_spec_text_is_escaped_everywhere():
    """A column header is free text: in the table, the diagrams and the code it stays text."""
    header = "<script>alert(1)</script> & ]]> -->"
    spec = f'network evil\ninput 8x8x3\nblock b(n "{header}") {{ conv 1x1 n }}\nb 4\n'
    page = render_report(elaborate(text=spec))
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in page
    dom = parse(page)
    head = [th.text() for th in dom.find("table", **{"class": "spec-table"}).iter("th")]
    assert header in head
    assert any(header in f.text() for f in dom.iter("figure"))
    with pytest.raises(ReportError, match="block library"):
        render_report(elaborate(text='block b(n "#1x1") { conv 1x1 n }\n'))
