// Draws the charts of the selflearn HTML status page from the JSON in #chart-data, as SVG.
// Self-contained: no library, no network. Each drawn element carries its number in a
// data-* attribute, so a test can read what was drawn.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var COLORS = {
    win: "#2e7d32", loss: "#c62828", inconclusive: "#9e9e9e",
    created: "#455a64", pending_approval: "#f9a825", approved: "#1565c0",
    executed: "#6a1b9a", verified: "#2e7d32", rejected: "#757575"
  };
  var ARM_COLORS = ["#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2"];
  var STAGE_FILLS = ["#eef3fb", "#fbf3e6"];

  function el(parent, name, attributes, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attributes || {}).forEach(function (key) {
      node.setAttribute(key, String(attributes[key]));
    });
    if (text !== undefined) { node.textContent = text; }
    parent.appendChild(node);
    return node;
  }

  function max(values) {
    return values.reduce(function (m, v) { return v > m ? v : m; }, 0);
  }

  // -- the funnel: stages reached, then where the proposals are now ---------------------
  function funnel(svg) {
    var rows = data.funnel.reached, left = 90, width = 560, top = 12, step = 32;
    var biggest = Math.max(1, max(rows.map(function (r) { return r.value; })));
    rows.forEach(function (row, i) {
      var y = top + i * step, w = width * row.value / biggest;
      el(svg, "text", { x: left - 8, y: y + 17, "text-anchor": "end" }, row.label);
      el(svg, "rect", {
        "class": "bar", x: left, y: y, width: w.toFixed(2), height: 24,
        fill: COLORS[row.label] || COLORS.created, "data-label": row.label, "data-value": row.value
      });
      el(svg, "text", { x: left + w + 6, y: y + 17 }, String(row.value));
    });
    var now = data.funnel.now, y0 = top + rows.length * step + 22;
    var total = now.reduce(function (s, r) { return s + r.value; }, 0);
    el(svg, "text", { x: left - 8, y: y0 + 17, "text-anchor": "end" }, "now");
    var x = left;
    now.forEach(function (row) {
      if (row.value <= 0) { return; }
      var w = width * row.value / Math.max(1, total);
      el(svg, "rect", {
        "class": "segment", x: x.toFixed(2), y: y0, width: w.toFixed(2), height: 24,
        fill: COLORS[row.state], "data-state": row.state, "data-value": row.value
      });
      x += w;
    });
    var lx = left;
    now.forEach(function (row) {
      el(svg, "rect", { x: lx, y: y0 + 34, width: 10, height: 10, fill: COLORS[row.state] });
      var label = el(svg, "text", { x: lx + 14, y: y0 + 43 }, row.state + " " + row.value);
      lx += 18 + label.getComputedTextLength();
    });
  }

  // -- verdicts by day, over the rollout stages ------------------------------------------
  function verdicts(svg) {
    var days = data.verdicts.days, stages = data.verdicts.stages;
    var left = 44, right = 12, top = 30, bottom = 46;
    var W = 720, H = 300;
    var span = Math.max(1, max(days.map(function (d) { return d.end; })),
      max(stages.map(function (s) { return s.end; })));
    var sx = function (t) { return left + (W - left - right) * t / span; };
    var totals = days.map(function (d) { return d.win + d.loss + d.inconclusive; });
    var ymax = Math.max(1, max(totals));
    var sy = function (v) { return H - bottom - (H - top - bottom) * v / ymax; };
    stages.forEach(function (stage, i) {
      el(svg, "rect", {
        "class": "stage-band", x: sx(stage.start).toFixed(2), y: top,
        width: (sx(stage.end) - sx(stage.start)).toFixed(2), height: H - top - bottom,
        fill: STAGE_FILLS[i % 2], "data-stage": stage.name
      });
      el(svg, "text", {
        x: ((sx(stage.start) + sx(stage.end)) / 2).toFixed(2), y: top - 8 - 12 * (i % 2),
        "text-anchor": "middle", "font-size": 11
      }, stage.name);
    });
    [0, 0.5, 1].forEach(function (f) {
      var v = Math.round(ymax * f), y = sy(v);
      el(svg, "line", { x1: left, x2: W - right, y1: y, y2: y, stroke: "#ccc" });
      el(svg, "text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(v));
    });
    var barWidth = Math.max(4, 0.6 * (sx(1) - sx(0)));
    days.forEach(function (day) {
      var cx = sx(day.end - 0.5), base = 0;
      ["win", "loss", "inconclusive"].forEach(function (kind) {
        var n = day[kind];
        if (n <= 0) { return; }
        el(svg, "rect", {
          "class": "verdict-bar", x: (cx - barWidth / 2).toFixed(2), y: sy(base + n).toFixed(2),
          width: barWidth.toFixed(2), height: (sy(base) - sy(base + n)).toFixed(2),
          fill: COLORS[kind], "data-day": day.label, "data-kind": kind, "data-value": n
        });
        base += n;
      });
      el(svg, "text", { x: cx, y: H - bottom + 16, "text-anchor": "middle" }, day.label);
    });
    var lx = left;
    ["win", "loss", "inconclusive"].forEach(function (kind) {
      el(svg, "rect", { x: lx, y: H - 18, width: 10, height: 10, fill: COLORS[kind] });
      el(svg, "text", { x: lx + 14, y: H - 9 }, kind + " " + data.verdicts.total[kind]);
      lx += 130;
    });
  }

  // -- policy posteriors -------------------------------------------------------------------
  var LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028,
    771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7];

  function lgamma(z) {
    if (z < 0.5) { return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * z))) - lgamma(1 - z); }
    z -= 1;
    var x = LANCZOS[0];
    for (var i = 1; i < LANCZOS.length; i++) { x += LANCZOS[i] / (z + i); }
    var t = z + 7.5;
    return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
  }

  function betaPdf(x, a, b) {
    return Math.exp((a - 1) * Math.log(x) + (b - 1) * Math.log(1 - x) +
      lgamma(a + b) - lgamma(a) - lgamma(b));
  }

  function posterior(container, family) {
    var W = 720, left = 44, right = 12, top = 20, N = 200;
    var bottom = 30 + 16 * family.arms.length, H = 170 + bottom;
    var svg = el(container, "svg", {
      viewBox: "0 0 " + W + " " + H, "class": "posterior", "data-chart": "posterior",
      "data-family": family.name, role: "img", "aria-label": "Posteriors of " + family.name
    });
    el(svg, "text", { x: left, y: 12, "font-weight": "bold" }, family.name);
    var curves = family.arms.map(function (arm) {
      var pts = [];
      for (var i = 0; i < N; i++) {
        var x = (i + 0.5) / N;
        pts.push([x, betaPdf(x, arm.a, arm.b)]);
      }
      return pts;
    });
    var ymax = Math.max(1e-9, max(curves.map(function (pts) {
      return max(pts.map(function (p) { return p[1]; }));
    })));
    var sx = function (x) { return left + (W - left - right) * x; };
    var sy = function (y) { return H - bottom - (H - top - bottom - 8) * y / ymax; };
    el(svg, "line", { x1: left, x2: W - right, y1: sy(0), y2: sy(0), stroke: "#999" });
    [0, 0.25, 0.5, 0.75, 1].forEach(function (x) {
      el(svg, "text", { x: sx(x), y: sy(0) + 14, "text-anchor": "middle" }, String(x));
    });
    family.arms.forEach(function (arm, i) {
      var color = ARM_COLORS[i % ARM_COLORS.length];
      var d = curves[i].map(function (p, j) {
        return (j ? "L" : "M") + sx(p[0]).toFixed(2) + "," + sy(p[1]).toFixed(2);
      }).join("");
      el(svg, "path", {
        "class": "density", d: d, fill: "none", stroke: color, "stroke-width": 3,
        "data-arm": arm.label, "data-a": arm.a, "data-b": arm.b
      });
      el(svg, "line", {
        "class": "mean", x1: sx(arm.mean), x2: sx(arm.mean), y1: sy(0), y2: top,
        stroke: color, "stroke-dasharray": "4 3", "data-arm": arm.label
      });
      var selected = arm.label === family.selected ? "*" : "";
      var ly = H - bottom + 28 + 16 * i;
      el(svg, "rect", { x: left, y: ly - 9, width: 10, height: 10, fill: color });
      el(svg, "text", { x: left + 14, y: ly },
        arm.label + selected + "   a=" + arm.a + "  b=" + arm.b + "  mean=" +
        arm.mean.toFixed(2) + "  pulls=" + arm.pulls);
    });
  }

  function meansByDay(container, family) {
    var days = data.verdicts.days;
    if (!days.length) { return; }
    var W = 720, H = 160, left = 44, right = 24, top = 10, bottom = 24;
    var svg = el(container, "svg", {
      viewBox: "0 0 " + W + " " + H, "class": "means", "data-chart": "means", "data-family": family.name,
      role: "img", "aria-label": "Arm means by day of " + family.name
    });
    var sx = function (i) {
      return left + (W - left - right) * (days.length > 1 ? i / (days.length - 1) : 0.5);
    };
    var sy = function (m) { return H - bottom - (H - top - bottom) * m; };
    [0, 0.5, 1].forEach(function (m) {
      el(svg, "line", { x1: left, x2: W - right, y1: sy(m), y2: sy(m), stroke: "#ddd" });
      el(svg, "text", { x: left - 6, y: sy(m) + 4, "text-anchor": "end" }, String(m));
    });
    days.forEach(function (day, i) {
      el(svg, "text", { x: sx(i), y: H - 6, "text-anchor": "middle" }, day.label);
    });
    family.arms.forEach(function (arm, i) {
      var color = ARM_COLORS[i % ARM_COLORS.length];
      var d = days.map(function (day, j) {
        var means = day.means[family.name] || {};
        var m = means[arm.label] === undefined ? 0.5 : means[arm.label];
        return (j ? "L" : "M") + sx(j).toFixed(2) + "," + sy(m).toFixed(2);
      }).join("");
      el(svg, "path", {
        "class": "mean-line", d: d, fill: "none", stroke: color, "stroke-width": 2,
        "data-arm": arm.label
      });
    });
  }

  funnel(document.getElementById("chart-funnel"));
  verdicts(document.getElementById("chart-verdicts"));
  var policy = document.getElementById("chart-policy");
  if (!data.policy.families.length) {
    policy.textContent = "No arm family has been declared yet.";
  }
  data.policy.families.forEach(function (family) {
    posterior(policy, family);
    meansByDay(policy, family);
  });
  document.body.setAttribute("data-charts-drawn", "true");
}());
