// The dashboard's charts: uPlot (vendored beside this file) fed by /console/dashboard/series, polled.
// Times are shown in Europe/Berlin, numbers in the page's language. No inline script: the console's CSP
// allows only files from the console itself.
(function () {
  "use strict";
  var root = document.getElementById("charts");
  if (!root || typeof uPlot === "undefined") {
    return;
  }
  var lang = root.dataset.lang === "de" ? "de-DE" : "en-GB";
  var labels = JSON.parse(root.dataset.labels || "{}");
  var poll = Math.max(parseInt(root.dataset.poll || "5", 10), 2) * 1000;
  var numbers = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  var clock = new Intl.DateTimeFormat(lang, { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit" });
  var days = new Intl.DateTimeFormat(lang, { timeZone: "Europe/Berlin", day: "2-digit", month: "2-digit", hour: "2-digit" });
  var span = "hour";
  var charts = {};

  function when(seconds) {
    var date = new Date(seconds * 1000);
    return span === "hour" ? clock.format(date) : days.format(date);
  }

  function age(seconds) {
    if (seconds == null) {
      return "–";
    }
    var units = lang === "de-DE" ? ["s", "min", "Std.", "Tg."] : ["s", "min", "h", "d"];
    if (seconds < 120) {
      return numbers.format(seconds) + " " + units[0];
    }
    if (seconds < 7200) {
      return numbers.format(seconds / 60) + " " + units[1];
    }
    if (seconds < 172800) {
      return numbers.format(seconds / 3600) + " " + units[2];
    }
    return numbers.format(seconds / 86400) + " " + units[3];
  }

  function count(u, value) {
    return value == null ? "–" : numbers.format(value);
  }

  function width(element) {
    return Math.max(element.clientWidth || 0, 280);
  }

  var COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000];
  var AGE_STEPS = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800];

  function options(element, series, format, steps) {
    return {
      width: width(element),
      height: 220,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max || 0, 1)]; } } },
      series: [{ label: labels.time, value: function (u, v) { return v == null ? "–" : when(v); } }].concat(series),
      axes: [
        { values: function (u, splits) { return splits.map(when); } },
        {
          values: function (u, splits) { return splits.map(function (v) { return format(u, v); }); },
          incrs: steps,
          size: 70,
        },
      ],
    };
  }

  function make(id, series, format, steps) {
    var element = document.getElementById(id);
    if (!element) {
      return null;
    }
    var empty = [[]].concat(series.map(function () { return []; }));
    return { element: element, plot: new uPlot(options(element, series, format, steps), empty, element) };
  }

  charts.traffic = make(
    "chart-traffic",
    [
      { label: labels.received, stroke: "#0b4f9c", width: 2, value: count },
      { label: labels.sent, stroke: "#145c2a", width: 2, value: count },
      { label: labels.failed, stroke: "#a1120b", width: 2, dash: [6, 4], value: count },
    ],
    count,
    COUNT_STEPS
  );
  var ageValue = function (u, v) { return age(v); };
  charts.ages = make(
    "chart-ages",
    [
      { label: labels.inbound, stroke: "#0b4f9c", width: 2, value: ageValue, spanGaps: false },
      { label: labels.outbound, stroke: "#6b4e00", width: 2, value: ageValue, spanGaps: false },
      { label: labels.waiting_for_receipt, stroke: "#5a2d82", width: 2, dash: [6, 4], value: ageValue, spanGaps: false },
    ],
    ageValue,
    AGE_STEPS
  );

  var updates = 0;

  function sum(values) {
    return values.reduce(function (a, b) { return a + (b || 0); }, 0);
  }

  function load() {
    fetch(root.dataset.series + "?span=" + encodeURIComponent(span), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (!response.ok || type.indexOf("application/json") !== 0) {
          throw new Error("not signed in or not available");
        }
        return response.json();
      })
      .then(function (data) {
        if (charts.traffic) {
          charts.traffic.plot.setData([data.t, data.received, data.sent, data.failed]);
        }
        if (charts.ages && data.age) {
          charts.ages.plot.setData([data.t, data.age.inbound, data.age.outbound, data.age.waiting_for_receipt]);
        }
        updates += 1;
        root.dataset.updates = String(updates);
        root.dataset.received = String(sum(data.received));
        root.dataset.span = data.span;
      })
      .catch(function () {
        root.dataset.error = "1";
      });
  }

  root.querySelectorAll("button[data-span]").forEach(function (button) {
    button.addEventListener("click", function () {
      span = button.dataset.span;
      root.querySelectorAll("button[data-span]").forEach(function (other) {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
      load();
    });
  });

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (key) {
      var chart = charts[key];
      if (chart) {
        chart.plot.setSize({ width: width(chart.element), height: 220 });
      }
    });
  });

  load();
  window.setInterval(load, poll);
})();
