// Metrics charts of the review dashboard, drawn with Chart.js (served locally from
// /dashboard/static/vendor/chart.umd.js, built by scripts/build_frontend.sh).
// The numbers come from the page itself (<script type="application/json" id="metrics-data">).
(function () {
  "use strict";
  var source = document.getElementById("metrics-data");
  if (!source) { return; }
  if (typeof window.Chart === "undefined") {
    document.documentElement.setAttribute("data-charts", "unavailable");
    return;
  }
  var data = JSON.parse(source.textContent);
  var colours = {
    resolved: "#1e7a3c", escalated: "#d98a00", handed_off: "#2456a6", abandoned: "#b3261e",
    containment: "#1e7a3c", escalation: "#d98a00", handoff: "#2456a6", fallback: "#7b3fb3",
    commercial: "#7b3fb3", technical: "#1a8a8f", mixed: "#b08a2e", none: "#9aa0ab"
  };
  var percent = function (value) { return Math.round(value * 1000) / 10 + "%"; };
  var charts = [];

  charts.push(new Chart(document.getElementById("chart-rates"), {
    type: "line",
    data: {
      labels: data.labels,
      datasets: ["containment", "escalation", "handoff", "fallback"].map(function (name) {
        return { label: name, data: data.rates[name], borderColor: colours[name],
                 backgroundColor: colours[name], tension: 0, pointRadius: 2,
                 spanGaps: false };
      })
    },
    options: { maintainAspectRatio: false, animation: false,
      scales: { y: { min: 0, max: 1, ticks: { callback: percent } } },
      plugins: { tooltip: { callbacks: { label: function (c) {
        return c.dataset.label + ": " + percent(c.parsed.y); } } } } }
  }));

  charts.push(new Chart(document.getElementById("chart-outcomes"), {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: ["resolved", "escalated", "handed_off", "abandoned"].map(function (name) {
        return { label: name.replace("_", " "), data: data.outcomes[name],
                 backgroundColor: colours[name] };
      })
    },
    options: { maintainAspectRatio: false, animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
  }));

  var triageNames = ["commercial", "technical", "mixed", "none"];
  charts.push(new Chart(document.getElementById("chart-triage"), {
    type: "doughnut",
    data: {
      labels: ["commercial", "technical", "both", "neither"],
      datasets: [{ data: triageNames.map(function (n) { return data.triage[n]; }),
                   backgroundColor: triageNames.map(function (n) { return colours[n]; }) }]
    },
    options: { maintainAspectRatio: false, animation: false }
  }));

  charts.push(new Chart(document.getElementById("chart-topics"), {
    type: "bar",
    data: { labels: data.topics.labels,
            datasets: [{ label: "conversations", data: data.topics.counts,
                         backgroundColor: "#2456a6" }] },
    options: { indexAxis: "y", maintainAspectRatio: false, animation: false,
               plugins: { legend: { display: false } } }
  }));

  window.dashboardCharts = charts;
  document.documentElement.setAttribute("data-charts", "ready");
}());
