"""The HTML status page: a store's status with SVG charts of the proposal funnel, the
verdicts by day and the policy's posteriors, drawn by a script inlined in the page
(`charts.js`).

Pure: `render_html(data)` turns a `PageData` (the final status report, those taken at the
end of each day, the rollout stages' spans) into one self-contained HTML page that needs no
network — no CDN, no web font, no request of any kind. `write_page` is the only function
that touches a file. The numbers the charts draw are in the page as JSON (`chart_data`),
and as tables.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import attrs

from selflearn.render import status_lines
from selflearn.status import FunnelCounts, StatusReport

SCRIPT_FILE: Final = "charts.js"
FUNNEL_STAGES: Final = ("created", "approved", "executed", "verified")
STATES: Final = ("pending_approval", "approved", "executed", "verified", "rejected")
VERDICTS: Final = ("win", "loss", "inconclusive")

STYLE: Final = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 60em; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
.figures { display: flex; flex-wrap: wrap; gap: 0.5em 2em; padding: 0; list-style: none; }
.figures b { font-size: 1.3em; }
svg { display: block; margin: 0.5em 0; width: 100%; height: auto; }
svg text { font-size: 12px; fill: #333; }
.chart { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border-bottom: 1px solid #eee; padding: 0.2em 0.8em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
pre { font-size: 0.8em; background: #f6f6f6; padding: 1em; white-space: pre-wrap; }
#errors { color: #b00020; white-space: pre-wrap; }
"""


@attrs.frozen
class DaySnapshot:
    """The status report as it was at `at` (the end of a simulated day)."""

    at: datetime
    status: StatusReport


@attrs.frozen
class StageSpan:
    """A rollout stage and the domain time it lasted, [start, end)."""

    name: str
    title: str
    start: datetime
    end: datetime


@attrs.frozen
class PageData:
    """What the page shows: the final status, one snapshot per day, the stages."""

    title: str
    status: StatusReport
    days: tuple[DaySnapshot, ...] = ()
    stages: tuple[StageSpan, ...] = ()


def _reached(counts: FunnelCounts) -> dict[str, int]:
    """How many proposals reached each stage of the funnel, from its conversion rates."""
    c = counts.conversion
    approved = round((c.approval_rate or 0.0) * counts.created)
    executed = round((c.execution_rate or 0.0) * approved)
    verified = round((c.verification_rate or 0.0) * executed)
    return {
        "created": counts.created,
        "approved": approved,
        "executed": executed,
        "verified": verified,
    }


def _origin(data: PageData) -> datetime | None:
    """The start of the time axis: the first stage's start, else a day before the first
    snapshot."""
    if data.stages:
        return data.stages[0].start
    if data.days:
        return data.days[0].at - timedelta(days=1)
    return None


def _days(at: datetime, origin: datetime) -> float:
    return (at - origin) / timedelta(days=1)


def chart_data(data: PageData) -> dict[str, Any]:
    """The numbers the charts draw, as plain JSON-able data."""
    status = data.status
    funnel = status.proposal_funnel
    reached = _reached(funnel)
    origin = _origin(data)
    days = []
    for n, day in enumerate(data.days):
        trend = day.status.outcome_quality.trend_24h
        days.append(
            {
                "label": f"day {n + 1}",
                "at": day.at.isoformat(),
                "end": _days(day.at, origin) if origin else float(n + 1),
                "stage": day.status.rollout.stage,
                "win": trend.win,
                "loss": trend.loss,
                "inconclusive": trend.inconclusive,
                "means": {
                    family: {label: arm.mean for label, arm in state.arms.items()}
                    for family, state in day.status.policy_state.families.items()
                },
            }
        )
    stages = [
        {
            "name": span.name,
            "title": span.title,
            "start": _days(span.start, origin),
            "end": _days(span.end, origin),
        }
        for span in data.stages
        if origin is not None
    ]
    policy = status.policy_state
    return {
        "title": data.title,
        "at": status.at.isoformat(),
        "funnel": {
            "reached": [{"label": k, "value": reached[k]} for k in FUNNEL_STAGES],
            "now": [{"state": s, "value": getattr(funnel, s)} for s in STATES],
        },
        "verdicts": {
            "days": days,
            "stages": stages,
            "total": {k: getattr(status.outcome_quality.verdict_counts, k) for k in VERDICTS},
        },
        "policy": {
            "enabled": policy.enabled,
            "families": [
                {
                    "name": family,
                    "selected": state.selected,
                    "arms": [
                        {"label": label, "a": a.a, "b": a.b, "mean": a.mean, "pulls": a.pulls}
                        for label, a in state.arms.items()
                    ],
                }
                for family, state in policy.families.items()
            ],
        },
    }


def _json_for_script(value: Any) -> str:
    """JSON that cannot end the <script> element it sits in."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figures(status: StatusReport) -> str:
    o, g, p = status.outcome_quality, status.execution_guardrail, status.policy_state
    v = o.verdict_counts
    figures: Mapping[str, object] = {
        "stage": status.rollout.stage or "—",
        "proposals": status.proposal_funnel.created,
        "wins": v.win,
        "losses": v.loss,
        "inconclusive": v.inconclusive,
        "normal-mode runs": g.normal_mode_admissions_total,
        "cooldowns": g.cooldowns_started,
        "patches applied": g.patches_applied_runs,
        "rolled back": g.patches_rolled_back_runs,
        "credited runs": p.credited_runs,
    }
    items = "".join(
        f"<li><b>{html.escape(str(value))}</b> {html.escape(name)}</li>"
        for name, value in figures.items()
    )
    return f'<ul class="figures">{items}</ul>'


def render_html(data: PageData) -> str:
    """The status page as one self-contained HTML document."""
    charts = chart_data(data)
    script = files("selflearn").joinpath(SCRIPT_FILE).read_text(encoding="utf-8")
    funnel_rows = [(r["label"], r["value"]) for r in charts["funnel"]["reached"]]
    state_rows = [(r["state"], r["value"]) for r in charts["funnel"]["now"]]
    day_rows = [
        (d["label"], d["stage"] or "—", d["win"], d["loss"], d["inconclusive"])
        for d in charts["verdicts"]["days"]
    ]
    arm_rows = [
        (
            f["name"],
            a["label"] + ("*" if a["label"] == f["selected"] else ""),
            a["a"],
            a["b"],
            f"{a['mean']:.3f}",
            a["pulls"],
        )
        for f in charts["policy"]["families"]
        for a in f["arms"]
    ]
    title = html.escape(data.title)
    status_text = html.escape("\n".join(status_lines(data.status)))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{STYLE}</style>
<script>
window.addEventListener("error", function (event) {{
  document.getElementById("errors").textContent += event.message + "\\n";
}});
</script>
</head>
<body>
<h1>{title}</h1>
<p>Status at {html.escape(data.status.at.isoformat())} (domain time).</p>
<div id="errors"></div>
{_figures(data.status)}

<h2>Proposal funnel</h2>
<p>How many proposals reached each stage, and where they all are now.</p>
<div class="chart"><svg id="chart-funnel" data-chart="funnel" viewBox="0 0 720 250"
 role="img" aria-label="Proposal funnel"></svg></div>
<details><summary>Numbers</summary>
{_table(("stage reached", "proposals"), funnel_rows)}
{_table(("state now", "proposals"), state_rows)}
</details>

<h2>Verdicts by day</h2>
<p>Runs that converged in each simulated day (<code>trend_24h</code> of the status at the
day's end), over the rollout stages.</p>
<div class="chart"><svg id="chart-verdicts" data-chart="verdicts" viewBox="0 0 720 300"
 role="img" aria-label="Verdicts by day"></svg></div>
<details><summary>Numbers</summary>
{_table(("day", "stage", "win", "loss", "inconclusive"), day_rows)}
</details>

<h2>Policy posteriors</h2>
<p>Each arm's Beta(a, b) posterior: a = 1 + credited wins, b = 1 + credited losses
(* the arm selected by the last cycle); below, each arm's mean at the end of each day.</p>
<div class="chart" id="chart-policy"></div>
<details><summary>Numbers</summary>
{_table(("family", "arm", "a", "b", "mean", "pulls"), arm_rows)}
</details>

<h2>Status</h2>
<pre>{status_text}</pre>

<script type="application/json" id="chart-data">{_json_for_script(charts)}</script>
<script>
{script}
</script>
</body>
</html>
"""


def write_page(path: str | os.PathLike[str], data: PageData) -> Path:
    """Write the page to `path` (its directory is made if needed); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(render_html(data), encoding="utf-8")
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


__all__ = [
    "DaySnapshot",
    "PageData",
    "StageSpan",
    "chart_data",
    "render_html",
    "write_page",
]
