// Adds the reader's local time to every UTC time on the page, shown on hover.
"use strict";
document.querySelectorAll("time[datetime]").forEach(function (node) {
  var at = new Date(node.getAttribute("datetime"));
  if (!isNaN(at.getTime())) {
    node.title = at.toLocaleString() + " (your local time)";
  }
});
