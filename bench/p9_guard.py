"""P9, the design choices: the small-sample guard and the scale of the mixture, by simulation.

    python -m bench.p9_guard [--quick] [--runs N]

The default verifier's sequential test estimates the variances from the samples. Three
ways to use the estimate are compared, with everything else as the verifier does it
(one-sided normal mixtures per direction at α/M, the running minimum of the p-values,
the running intersection of the intervals, the same helps / harms / settled / open rules
and the stop at the first final verdict):

- `none`: the estimated variance as if it were known (normal scale);
- `inflate`: the variance times ν/(ν − 2), the variance of Student's t with Welch's ν;
- `student_t`: the statistic compared on Student's t scale (its tail probability under
  t_ν mapped to the normal score with the same tail), the radius mapped back — the
  verifier's choice.

And two scales τ of the mixture: `improve`, and max(`improve`, 3 standard errors of the
baseline's mean) — the verifier's choice.

Figures: the worst false-win and false-loss rates over the A/A grid of P9 (n ∈ {5, 10,
30, 100}, noise ∈ {0.25, …, 4} × `improve`, 1 and 4 independent metrics, 10 attempts),
and the power and single-metric harm of P9's set-up (n = 50, noise = 10 × `improve`,
±0.5 σ on one metric, 10 attempts). This is a vectorized re-implementation in NumPy and
SciPy, for speed; `bench.p9_verdicts` measures the verifier itself.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import log_ndtr

from bench._common import arguments, publish

ALPHA = 0.05
GUARDS = ("none", "inflate", "student_t")
SCALES = ("improve", "three_se")


def one_sided_radius(variance: np.ndarray, tau2: np.ndarray, level: float) -> np.ndarray:
    """z where the half-normal mixture's likelihood ratio reaches 1/level (Newton)."""
    c = np.sqrt(tau2 / (variance + tau2))
    target = math.log(1 / level) - math.log(2) - 0.5 * np.log(variance / (variance + tau2))
    z = np.sqrt(np.maximum(2 * target, 0.0)) / c + 0.1
    for _ in range(30):
        f = log_ndtr(c * z) + c * c * z * z / 2 - target
        mills = np.exp(-0.5 * (c * z) ** 2 - 0.5 * math.log(2 * math.pi) - log_ndtr(c * z))
        z = z - f / (c * mills + c * c * z)
    return z


def simulate(
    *,
    n: int,
    noise: float,
    metrics: int,
    guard: str,
    scale: str,
    runs: int,
    effects: tuple[float, ...] = (),
    looks: int = 10,
    seed: int = 1,
) -> dict[str, float]:
    """Share of runs ending win / loss within `looks` attempts (σ = 1, improve = 1/noise)."""
    rng = np.random.default_rng(seed)
    improve = regress = 1.0 / noise
    level = ALPHA / metrics
    shift = np.zeros(metrics)
    shift[: len(effects)] = effects
    before = rng.normal(0.0, 1.0, (runs, metrics, n))
    base_mean, base_var = before.mean(-1), before.var(-1, ddof=1)
    se2 = base_var / n
    tau2 = np.full_like(se2, improve**2)
    if scale == "three_se":
        tau2 = np.maximum(tau2, 9.0 * se2)
    count = np.zeros((runs, metrics))
    mean = np.zeros((runs, metrics))
    m2 = np.zeros((runs, metrics))
    lower = np.full((runs, metrics), -np.inf)
    upper = np.full((runs, metrics), np.inf)
    final = np.zeros(runs, dtype=int)  # 0 pending, 1 win, -1 loss, 2 settled
    for _ in range(looks):
        batch = rng.normal(0.0, 1.0, (runs, metrics, n)) + shift[None, :, None]
        total = count + n
        delta = batch.mean(-1) - mean
        mean = mean + delta * n / total
        m2 = m2 + batch.var(-1) * n + delta**2 * count * n / total
        count = total
        after_var = m2 / (count - 1)
        variance = se2 + after_var / count
        d = mean - base_mean
        nu = variance**2 / (se2**2 / (n - 1) + (after_var / count) ** 2 / (count - 1))
        if guard == "inflate":
            variance = variance * nu / (nu - 2)
        radius = one_sided_radius(variance, tau2, level)
        if guard == "student_t":
            radius = stats.t.isf(stats.norm.sf(radius), nu)
        half = radius * np.sqrt(variance)
        lower = np.maximum(lower, d - half)
        upper = np.minimum(upper, d + half)
        low = np.minimum(np.minimum(lower, upper), d)
        high = np.maximum(np.maximum(lower, upper), d)
        helps = (low > 0) & (d >= improve)
        harms = (high < 0) & (d <= -regress)
        settled = (low > -regress) & (high < improve)
        loss = harms.any(1)
        win = helps.any(1) & ~loss
        done = settled.all(1) & ~loss & ~win
        verdict = np.where(loss, -1, np.where(win, 1, np.where(done, 2, 0)))
        final = np.where((final == 0) & (verdict != 0), verdict, final)
    return {"wins": float((final == 1).mean()), "losses": float((final == -1).mean())}


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=None, help="runs per cell (10,000)")
    args = parser.parse_args()
    runs = args.runs or (200 if args.quick else 10_000)
    started = time.perf_counter()
    bar = ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
    result: dict[str, Any] = {"alpha": ALPHA, "runs_per_cell": runs, "aa_bar": round(bar, 5)}
    grid = [
        (n, noise, metrics)
        for metrics in (1, 4)
        for n in (5, 10, 30, 100)
        for noise in (0.25, 0.5, 1.0, 2.0, 4.0)
    ]
    choices: dict[str, Any] = {}
    for guard in GUARDS:
        for scale in SCALES:
            worst: dict[str, Any] = {"wins": None, "losses": None}
            for i, (n, noise, metrics) in enumerate(grid):
                figures = simulate(
                    n=n, noise=noise, metrics=metrics, guard=guard, scale=scale, runs=runs, seed=i
                )
                for kind in ("wins", "losses"):
                    if worst[kind] is None or figures[kind] > worst[kind]["rate"]:
                        worst[kind] = {
                            "rate": round(figures[kind], 5),
                            "n": n,
                            "noise": noise,
                            "metrics": metrics,
                        }
            power = simulate(
                n=50,
                noise=10.0,
                metrics=1,
                guard=guard,
                scale=scale,
                runs=runs,
                effects=(0.5,),
                seed=101,
            )
            harm = simulate(
                n=50,
                noise=10.0,
                metrics=1,
                guard=guard,
                scale=scale,
                runs=runs,
                effects=(-0.5,),
                seed=102,
            )
            harm4 = simulate(
                n=50,
                noise=10.0,
                metrics=4,
                guard=guard,
                scale=scale,
                runs=runs,
                effects=(-0.5,),
                seed=103,
            )
            choices[f"{guard}/{scale}"] = {
                "aa_worst": worst,
                "aa_met": worst["wins"]["rate"] <= bar and worst["losses"]["rate"] <= bar,
                "power_wins": round(power["wins"], 4),
                "harm_losses": round(harm["losses"], 4),
                "harm_losses_one_of_4_metrics": round(harm4["losses"], 4),
            }
    result["choices"] = choices
    result["chosen"] = "student_t/three_se"
    result["seconds"] = round(time.perf_counter() - started, 1)
    publish("p9_guard", result, quick=args.quick, directory=args.results_dir)


if __name__ == "__main__":
    main()
