// Pinned members under the live top 10: the signed-in member's pins on the board on screen,
// read from the board's preview (rows tagged "pinned") each time the board is shown or changes.
// Plain script, no build step; it only listens to live.js's "scoreboard:board" event.
(function () {
  "use strict";

  var card = document.getElementById("pinned-card");
  var tbody = document.querySelector("#pinned tbody");
  var shown = { board: null, version: null };
  var pending = null;

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function render(rows) {
    tbody.innerHTML = "";
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.dataset.memberId = String(row.member.id);
      tr.appendChild(cell(row.rank, "num rank"));
      tr.appendChild(cell(row.member.display_name, "name"));
      tr.appendChild(cell(row.points, "num points"));
      tr.appendChild(cell(row.exact_hits, "num"));
      tr.appendChild(cell(row.outcome_hits, "num"));
      tbody.appendChild(tr);
    });
    card.hidden = rows.length === 0;
  }

  function load(board) {
    var access = window.sessionStorage.getItem("scoreboard.access");
    if (!board || !access) { render([]); return; }
    var kind = board.split(":")[0], id = board.split(":")[1];
    fetch("/api/v1/" + kind + "s/" + id + "/leaderboard/preview", {
      headers: { "Accept": "application/json", "Authorization": "Bearer " + access },
    })
      .then(function (response) { return response.ok ? response.json() : { results: [] }; })
      .then(function (data) {
        if (board !== shown.board) return;  // another board was chosen meanwhile
        render((data.results || []).filter(function (row) { return (row.tags || []).indexOf("pinned") >= 0; }));
      })
      .catch(function () { render([]); });
  }

  document.addEventListener("scoreboard:board", function (event) {
    var board = event.detail.board, version = event.detail.version;
    if (board === shown.board && version === shown.version) return;
    if (board !== shown.board) render([]);
    shown = { board: board, version: version };
    // A burst of updates asks once.
    clearTimeout(pending);
    pending = setTimeout(function () { load(board); }, 150);
  });
})();
