// The live page's one enhancement: new responses pushed by server-sent events, added on
// top of the table. Without JavaScript the page refreshes itself instead.
"use strict";
(function () {
  var table = document.getElementById("live");
  if (!table || !window.EventSource) return;
  var body = table.tBodies[0];
  var state = document.getElementById("live-state");
  var source = new EventSource(table.dataset.source + "?after=" + table.dataset.last);
  var words = { "1": "positive", "0": "neutral", "-1": "negative" };
  function cell(row, text, numeric) {
    var td = row.insertCell(-1);
    td.textContent = text === null || text === undefined ? "–" : String(text);
    if (numeric) td.className = "num";
  }
  source.addEventListener("response", function (event) {
    var r = JSON.parse(event.data);
    var empty = body.querySelector("td[colspan]");
    if (empty) empty.parentNode.remove();
    var row = body.insertRow(0);
    row.dataset.id = r.id;
    cell(row, r.created_at.slice(11, 19));
    cell(row, r.survey);
    cell(row, r.channel);
    cell(row, [r.touchpoint, r.agent].filter(Boolean).join(" · "));
    cell(row, r.nps, true);
    cell(row, r.csat, true);
    cell(row, r.empathy_understood, true);
    cell(row, r.empathy_cared === null ? null : r.empathy_cared ? "yes" : "no");
    cell(row, words[String(r.sentiment_class)]);
    while (body.rows.length > 50) body.deleteRow(-1);
    state.textContent = "New response at " + r.created_at.slice(11, 19) + " UTC.";
  });
})();
