/* Viewing report pages: draw the charts the page embeds as JSON (#vs-chart-data). */
(function () {
  "use strict";
  var source = document.getElementById("vs-chart-data");
  if (!source || typeof Chart === "undefined") { return; }
  var COLORS = ["#417690", "#e08e0b", "#2e7d32", "#c62828", "#6a1b9a", "#00838f"];

  function fmt(v, unit) {
    var n = typeof v === "number" ? v.toLocaleString("en-US", {maximumFractionDigits: 2}) : String(v);
    return unit && unit !== "count" ? n + " " + unit.replace(/^hours$/, "h") : n;
  }

  function barChart(canvas, spec) {
    var many = spec.datasets.length > 1;
    return new Chart(canvas, {
      type: "bar",
      data: {labels: spec.labels, datasets: spec.datasets.map(function (d, i) {
        return {label: d.label, data: d.data, backgroundColor: COLORS[i % COLORS.length],
                yAxisID: d.axis === "y1" ? "y1" : "y"};
      })},
      options: {
        indexAxis: spec.id === "bars" ? "y" : "x", maintainAspectRatio: false, animation: false,
        plugins: {
          legend: {display: many},
          tooltip: {callbacks: {label: function (ctx) {
            var d = spec.datasets[ctx.datasetIndex];
            var text = d.label + ": " + fmt(ctx.raw, d.unit);
            if (spec.shares) { text += " · " + spec.shares[ctx.dataIndex] + " % of watch time"; }
            return text;
          }}}
        },
        scales: spec.id === "bars" ? {y: {ticks: {autoSkip: false}}} :
          {y: {beginAtZero: true, position: "left"},
           y1: {beginAtZero: true, position: "right", display: spec.datasets.some(function (d) { return d.axis === "y1"; }),
                grid: {drawOnChartArea: false}}}
      }
    });
  }

  function lineChart(canvas, spec, only) {
    var shown = spec.datasets.map(function (d, i) { return [d, i]; })
      .filter(function (p) { return only === undefined || p[1] === only; });
    return new Chart(canvas, {
      type: "line",
      data: {labels: spec.labels, datasets: shown.map(function (p) {
        return {label: p[0].label, data: p[0].data, borderColor: COLORS[p[1] % COLORS.length],
                backgroundColor: COLORS[p[1] % COLORS.length], pointRadius: spec.labels.length > 60 ? 0 : 2,
                tension: 0.2, yAxisID: p[0].axis === "y1" ? "y1" : "y"};
      })},
      options: {
        maintainAspectRatio: false, animation: false, interaction: {mode: "index", intersect: false},
        plugins: {tooltip: {callbacks: {label: function (ctx) {
          var d = shown[ctx.datasetIndex][0];
          return d.label + ": " + fmt(ctx.raw, d.unit);
        }}}},
        scales: {x: {ticks: {maxTicksLimit: 12}}, y: {beginAtZero: true},
                 y1: {beginAtZero: true, position: "right", display: shown.some(function (p) { return p[0].axis === "y1"; }),
                      grid: {drawOnChartArea: false}}}
      }
    });
  }

  JSON.parse(source.textContent).forEach(function (spec) {
    var canvas = document.getElementById("chart-" + spec.id);
    if (!canvas) { return; }
    if (spec.type === "bar") { barChart(canvas, spec); return; }
    if (!spec.switch) { lineChart(canvas, spec); return; }
    // One metric at a time: sessions and gigabytes do not share an axis.
    var chart = lineChart(canvas, spec, 0);
    var box = canvas.closest("figure").querySelector(".vs-switch");
    spec.datasets.forEach(function (d, i) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = d.label;
      b.className = i === 0 ? "active" : "";
      b.addEventListener("click", function () {
        chart.destroy();
        chart = lineChart(canvas, spec, i);
        box.querySelectorAll("button").forEach(function (o) { o.className = o === b ? "active" : ""; });
      });
      box.appendChild(b);
    });
  });
  document.getElementById("vs-report").dataset.chartsDrawn = "yes";
})();
