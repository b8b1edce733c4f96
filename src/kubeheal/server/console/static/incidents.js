// Live incident list: a Server-Sent Events stream sends a row for every new or changed
// incident matching the page's filters; rows are server-rendered (escaped) HTML.
(function () {
  "use strict";
  var table = document.getElementById("incidents");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var live = document.getElementById("live");
  var source = new EventSource(table.getAttribute("data-events"));
  source.onopen = function () { live.setAttribute("data-state", "open"); };
  source.onerror = function () { live.setAttribute("data-state", "reconnecting"); };
  source.addEventListener("incident", function (event) {
    var item = JSON.parse(event.data);
    var existing = document.getElementById("row-" + item.id);
    if (existing && existing.getAttribute("data-signature") === item.signature) { return; }
    var holder = document.createElement("tbody");
    holder.innerHTML = item.html;
    var row = holder.firstElementChild;
    row.classList.add("fresh");
    if (existing) {
      body.replaceChild(row, existing);
    } else {
      body.insertBefore(row, body.firstChild);
      var count = document.getElementById("count");
      count.textContent = String(parseInt(count.textContent, 10) + 1);
    }
    var empty = document.getElementById("empty");
    if (empty) { empty.remove(); }
  });
})();
