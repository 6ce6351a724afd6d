// The console's own script, loaded from /console/static (the Content-Security-Policy allows no inline script).
// 1. Every table.grid not already inside a .table-scroll box is wrapped in one, so a wide table scrolls inside
//    its box rather than widening the page (also for the dashboard panel htmx swaps in).
//    Preformatted text gets tabindex=0 for the same reason (axe-core: scrollable-region-focusable).
// 2. A button.copy[data-copy] copies its value to the clipboard (short_id() in gateway/console/web.py).
(function () {
  "use strict";
  function wrapTables(root) {
    root.querySelectorAll("table.grid").forEach(function (table) {
      var parent = table.parentElement;
      if (parent && parent.classList.contains("table-scroll")) { return; }
      var box = document.createElement("div");
      box.className = "table-scroll";
      box.tabIndex = 0;  // a box that scrolls must be reachable by keyboard
      parent.insertBefore(box, table);
      box.appendChild(table);
    });
  }
  // a box that may scroll sideways (preformatted text) is reachable by keyboard, so it can be scrolled without a mouse
  function focusable(root) {
    root.querySelectorAll("pre:not([tabindex])").forEach(function (box) { box.tabIndex = 0; });
  }
  function prepare(root) { wrapTables(root); focusable(root); }
  document.addEventListener("DOMContentLoaded", function () { prepare(document); });
  document.addEventListener("htmx:afterSwap", function (event) { prepare(event.target); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy[data-copy]") : null;
    if (!button || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-done") || label;
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });
}());
