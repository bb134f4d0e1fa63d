"""The HTML status page: self-contained, its data faithful to the status, its charts drawn
by a real browser (headless Chromium)."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs

from selflearn.charts import PageData, chart_data, render_html, write_page
from selflearn.demo import stage_names
from tests.conftest import DemoRun, chromium_binary
from tests.pngpixels import read_png

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
# The fills the page's script uses for verdicts and the first three policy arms.
WIN, LOSS, INCONCLUSIVE = (46, 125, 50), (198, 40, 40), (158, 158, 158)
ARMS = ((31, 119, 180), (255, 127, 14), (148, 103, 189))


def data_island(page: str) -> Any:
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_the_page_needs_no_network(default_demo: DemoRun) -> None:
    """Nothing in the page loads from anywhere: no src/href, no url(), no @import, and the
    only address is the SVG namespace (a name, never fetched)."""
    page = render_html(default_demo.result.page)
    assert not re.search(r"\b(?:src|href|srcset|action)\s*=", page, re.I)
    assert not re.search(r"url\s*\(|@import|<link|<iframe|fetch\(|XMLHttpRequest", page, re.I)
    assert {SVG_NAMESPACE} == set(re.findall(r"https?://[^\s\"'<>)]+", page))


def test_the_page_holds_the_numbers_of_the_status(default_demo: DemoRun) -> None:
    """The JSON the charts draw is `chart_data` of the page's data; the funnel's current states
    are the status's, and the days' verdicts add up to the status's verdict counts."""
    page = default_demo.result.page
    data = data_island(default_demo.html.read_text(encoding="utf-8"))
    assert chart_data(page) == data
    funnel = page.status.proposal_funnel
    assert {s: getattr(funnel, s) for s in ("pending_approval", "verified", "rejected")} == {
        row["state"]: row["value"]
        for row in data["funnel"]["now"]
        if row["state"] in ("pending_approval", "verified", "rejected")
    }
    assert funnel.created == data["funnel"]["reached"][0]["value"]
    totals = Counter[str]()
    for day in data["verdicts"]["days"]:
        totals.update({k: day[k] for k in ("win", "loss", "inconclusive")})
    counts = page.status.outcome_quality.verdict_counts
    assert {"win": counts.win, "loss": counts.loss, "inconclusive": counts.inconclusive} == dict(
        totals
    )
    assert list(stage_names()) == [s["name"] for s in data["verdicts"]["stages"]]


def test_text_in_the_page_cannot_end_its_script(default_demo: DemoRun) -> None:
    """A title with markup is escaped in the HTML and in the JSON, and reads back intact."""
    title = "</script><script>alert(1)</script> & <b>"
    page = render_html(attrs.evolve(default_demo.result.page, title=title))
    assert "<script>alert" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in page
    assert title == data_island(page)["title"]


def test_write_page_makes_its_directory(default_demo: DemoRun, tmp_path: Path) -> None:
    """The page is written whole, its directory made, nothing else left beside it."""
    target = tmp_path / "a" / "b" / "status.html"
    assert target == write_page(target, default_demo.result.page)
    assert render_html(default_demo.result.page) == target.read_text(encoding="utf-8")
    assert ["status.html"] == [p.name for p in target.parent.iterdir()]


# -- in a browser ------------------------------------------------------------------------


def chromium(tmp_path: Path, page: Path, *args: str) -> str:
    """Run headless Chromium on `page` with `args`, offline; return its stdout."""
    done = subprocess.run(
        [
            chromium_binary(),
            "--headless",
            "--no-sandbox",  # as root (CI) Chromium refuses to start without it
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            *args,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == done.returncode, done.stderr[-2000:]
    return done.stdout


@attrs.define
class Element:
    tag: str
    attrs: dict[str, str]
    chart: str | None  # the data-chart of the SVG it is in
    family: str | None
    text: str = ""


class DomReader(HTMLParser):
    """The elements of a dumped DOM, each with the chart it belongs to."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self.svgs: list[tuple[str | None, str | None]] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attributes}
        if tag == "svg":
            self.svgs.append((found.get("data-chart"), found.get("data-family")))
        chart, family = self.svgs[-1] if self.svgs else (None, None)
        element = Element(tag, found, chart, family)
        self.elements.append(element)
        self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self.svgs:
            self.svgs.pop()
        while self.open:
            if self.open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1].text += data

    def select(self, tag: str, cls: str, chart: str | None = None) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag
            and cls in e.attrs.get("class", "").split()
            and (chart is None or e.chart == chart)
        ]


def path_points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


def test_chromium_runs_the_script_and_draws_every_chart(
    default_demo: DemoRun, tmp_path: Path
) -> None:
    """After the page's script ran in Chromium, the DOM holds a bar per funnel stage, a
    segment per state, a stacked bar per day and verdict, a band per rollout stage, and a
    Beta density per arm peaking at its mode — each sized from the status's numbers."""
    dom = DomReader()
    dom.feed(chromium(tmp_path, default_demo.html, "--dump-dom"))
    data = chart_data(default_demo.result.page)
    [errors] = [e for e in dom.elements if e.attrs.get("id") == "errors"]
    assert "" == errors.text.strip()
    [body] = [e for e in dom.elements if e.tag == "body"]
    assert "true" == body.attrs.get("data-charts-drawn")

    bars = dom.select("rect", "bar", "funnel")
    assert [(r["label"], r["value"]) for r in data["funnel"]["reached"]] == [
        (b.attrs["data-label"], int(b.attrs["data-value"])) for b in bars
    ]
    scale = {float(b.attrs["width"]) / int(b.attrs["data-value"]) for b in bars}
    assert max(scale) - min(scale) < 0.01
    segments = dom.select("rect", "segment", "funnel")
    assert {r["state"]: r["value"] for r in data["funnel"]["now"] if r["value"]} == {
        s.attrs["data-state"]: int(s.attrs["data-value"]) for s in segments
    }

    drawn = {
        (b.attrs["data-day"], b.attrs["data-kind"]): int(b.attrs["data-value"])
        for b in dom.select("rect", "verdict-bar", "verdicts")
    }
    assert {
        (day["label"], kind): day[kind]
        for day in data["verdicts"]["days"]
        for kind in ("win", "loss", "inconclusive")
        if day[kind]
    } == drawn
    heights = {
        float(b.attrs["height"]) / int(b.attrs["data-value"])
        for b in dom.select("rect", "verdict-bar", "verdicts")
    }
    assert max(heights) - min(heights) < 0.01
    assert list(stage_names()) == [
        b.attrs["data-stage"] for b in dom.select("rect", "stage-band", "verdicts")
    ]

    for family in data["policy"]["families"]:
        curves = [e for e in dom.select("path", "density") if e.family == family["name"]]
        assert [a["label"] for a in family["arms"]] == [c.attrs["data-arm"] for c in curves]
        for arm, curve in zip(family["arms"], curves, strict=True):
            points = path_points(curve.attrs["d"])
            assert 200 == len(points)
            if arm["a"] > 1 and arm["b"] > 1:
                # The curve's highest point (smallest y on screen) is at the Beta's mode.
                left, right = points[0][0], points[-1][0]
                peak = min(points, key=lambda p: p[1])[0]
                mode = (arm["a"] - 1) / (arm["a"] + arm["b"] - 2)
                assert abs((peak - left) / (right - left) - mode) < 0.01
        lines = [e for e in dom.select("path", "mean-line") if e.family == family["name"]]
        assert len(family["arms"]) == len(lines)
        assert all(
            len(path_points(line.attrs["d"])) == len(data["verdicts"]["days"]) for line in lines
        )


def test_a_screenshot_shows_the_charts(default_demo: DemoRun, tmp_path: Path) -> None:
    """Chromium's screenshot of the page holds the verdicts' and the arms' colours in
    visible amounts: the charts are on the screen, not only in the DOM."""
    shot = tmp_path / "page.png"
    chromium(tmp_path, default_demo.html, "--window-size=800,1800", f"--screenshot={shot}")
    _, _, pixels = read_png(shot)
    counts = Counter(pixels)
    verdicts = default_demo.result.status.outcome_quality.verdict_counts
    for colour, n in (
        (WIN, verdicts.win),
        (LOSS, verdicts.loss),
        (INCONCLUSIVE, verdicts.inconclusive),
    ):
        if n:
            assert counts[colour] >= 500, colour

    def near(colour: tuple[int, int, int]) -> int:
        return sum(
            n
            for p, n in counts.items()
            if sum(abs(a - b) for a, b in zip(p, colour, strict=True)) < 30
        )

    arms = len(default_demo.result.status.policy_state.families["approve_threshold"].arms)
    for colour in ARMS[:arms]:
        assert near(colour) >= 300, colour


def test_a_page_without_days_still_renders(tmp_path: Path, default_demo: DemoRun) -> None:
    """A page without daily snapshots or stages draws its charts without an error."""
    data = PageData(title="empty", status=default_demo.result.status)
    page = tmp_path / "empty.html"
    write_page(page, data)
    dom = DomReader()
    dom.feed(chromium(tmp_path, page, "--dump-dom"))
    [errors] = [e for e in dom.elements if e.attrs.get("id") == "errors"]
    assert "" == errors.text.strip()
    assert len(dom.select("rect", "bar", "funnel")) == 4
    assert [] == dom.select("rect", "verdict-bar")
