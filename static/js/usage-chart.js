// The usage chart (views/api_key_usage.templ): the focused or pointed bar's
// numbers are written under the chart, and the bars are one stop in the
// tab order, moved through with the arrow keys, Home and End. Without this
// file every bar is its own tab stop and its title shows on hover.
(function () {
  "use strict";

  function wire(chart) {
    var bars = Array.prototype.slice.call(chart.querySelectorAll("[data-usage-bar]"));
    var readout = chart.querySelector("[data-usage-readout]");
    if (!bars.length || !readout) return;

    function show(bar) {
      readout.textContent = bar.getAttribute("data-usage-bar");
    }

    function focusBar(i) {
      bars.forEach(function (b, j) { b.setAttribute("tabindex", j === i ? "0" : "-1"); });
      bars[i].focus();
    }

    // The latest bar is the one Tab lands on.
    bars.forEach(function (b, j) { b.setAttribute("tabindex", j === bars.length - 1 ? "0" : "-1"); });

    bars.forEach(function (bar, i) {
      bar.addEventListener("focus", function () { show(bar); });
      bar.addEventListener("mouseenter", function () { show(bar); });
      bar.addEventListener("keydown", function (e) {
        var next = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: bars.length - 1 }[e.key];
        if (next === undefined) return;
        e.preventDefault();
        focusBar(Math.max(0, Math.min(bars.length - 1, next)));
      });
    });
  }

  function init() {
    document.querySelectorAll("[data-usage-chart]").forEach(wire);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
