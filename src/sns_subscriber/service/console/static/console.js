// Optional comfort only: every page works without this script.
// A message still being processed reloads itself every few seconds until it is done or dead.
(function () {
  "use strict";
  var line = document.querySelector("[data-refresh]");
  if (!line) { return; }
  var seconds = parseInt(line.getAttribute("data-refresh"), 10);
  if (!(seconds >= 1 && seconds <= 60)) { return; }
  window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
}());
