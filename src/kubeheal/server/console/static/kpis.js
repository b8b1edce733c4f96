// KPI charts (Chart.js, vendored): data embedded in the page as JSON by the server.
(function () {
  "use strict";
  var kpi = JSON.parse(document.getElementById("kpi-data").textContent);
  var labels = kpi.labels;
  function flat(value) { return labels.map(function () { return value; }); }
  function line(id, sets, yTitle, max) {
    new Chart(document.getElementById(id), {
      type: "line",
      data: { labels: labels, datasets: sets },
      options: { animation: false, spanGaps: true, responsive: true, maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, grace: "10%", max: max, title: { display: true, text: yTitle } } } }
    });
  }
  function series(name, label, color, dash) {
    return { label: label, data: kpi.series[name] || [], borderColor: color, backgroundColor: color,
      borderDash: dash || [], pointRadius: 2 };
  }
  function target(value, label) {
    return { label: label, data: flat(value), borderColor: "#b42318", borderDash: [6, 4],
      pointRadius: 0, borderWidth: 1.5 };
  }
  line("chart-detect", [series("detect_p50", "p50", "#2b59c3"), series("detect_p95", "p95", "#9aa9d8", [3, 3])], "seconds");
  line("chart-act", [series("act_p50", "p50", "#2b59c3"), series("act_p95", "p95", "#9aa9d8", [3, 3])], "seconds");
  line("chart-recover", [series("recover_p50", "p50", "#2b59c3"), series("recover_p95", "p95", "#9aa9d8", [3, 3]),
    target(kpi.targets.mttr_seconds, "MTTR target")], "seconds");
  line("chart-rates", [series("auto_recovery", "auto-recovery", "#067647"), series("false_alerts", "false alerts", "#b54708"),
    target(kpi.targets.auto_recovery, "auto-recovery target"),
    Object.assign(target(kpi.targets.false_alerts, "false-alert limit"), { borderColor: "#b54708" })], "share", 1);
  var palette = { succeeded: "#067647", failed: "#b42318", pending: "#98a2b3", running: "#2b59c3" };
  var outcomes = kpi.actions.outcomes;
  new Chart(document.getElementById("chart-actions"), {
    type: "bar",
    data: { labels: kpi.actions.playbooks, datasets: Object.keys(outcomes).map(function (state) {
      return { label: state, data: outcomes[state], backgroundColor: palette[state] || "#7a5af8" }; }) },
    options: { animation: false, responsive: true, maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
  new Chart(document.getElementById("chart-guards"), {
    type: "bar",
    data: { labels: kpi.guard_blocks.guards, datasets: [{ label: "plans blocked", data: kpi.guard_blocks.counts, backgroundColor: "#b54708" }] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, indexAxis: "y",
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  document.body.setAttribute("data-charts", "drawn");
})();
