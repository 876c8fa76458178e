// The live top 10: pick a board, receive its snapshot, animate each update.
// Plain script, no build step; it talks to the public API like any client.
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);
  var store = window.sessionStorage;
  // The realtime role's address when it is served apart from this page, else this origin.
  var liveBase = new URL(document.querySelector("main").dataset.liveUrl || location.origin);

  var state = {
    board: null,        // "tournament:3" or "league:7"
    title: "",
    version: null,      // version of what is on screen
    rows: [],
    transport: params.get("transport") === "sse" ? "sse" : "websocket",
    conn: null,         // the open WebSocket or EventSource
    attempt: 0,         // reconnect attempts since the last snapshot
    timer: null,
    access: store.getItem("scoreboard.access"),
    refresh: store.getItem("scoreboard.refresh"),
    names: {},          // board -> its title, for the "my rank" panel
    inPlay: null,       // the pending read of the board's matches in play
    me: { conn: null, attempt: 0, timer: null, ranks: {} },
  };

  // --- API -----------------------------------------------------------------

  function api(path, options) {
    options = options || {};
    var headers = { "Accept": "application/json" };
    if (options.body) headers["Content-Type"] = "application/json";
    if (options.auth && state.access) headers["Authorization"] = "Bearer " + state.access;
    return fetch(path, { method: options.method || "GET", headers: headers, cache: options.cache || "default",
                         body: options.body ? JSON.stringify(options.body) : undefined })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) { var error = new Error(data.detail || ("HTTP " + response.status)); error.status = response.status; throw error; }
          return data;
        });
      });
  }

  function results(data) { return Array.isArray(data) ? data : (data.results || []); }

  function saveTokens(access, refresh) {
    state.access = access || null;
    state.refresh = refresh || null;
    access ? store.setItem("scoreboard.access", access) : store.removeItem("scoreboard.access");
    refresh ? store.setItem("scoreboard.refresh", refresh) : store.removeItem("scoreboard.refresh");
  }

  function refreshAccess() {
    if (!state.refresh) return Promise.reject(new Error("no refresh token"));
    return api("/api/v1/auth/token/refresh", { method: "POST", body: { refresh: state.refresh } })
      .then(function (data) { saveTokens(data.access, data.refresh || state.refresh); });
  }

  // --- choosing a board ----------------------------------------------------

  function loadTournaments() {
    return api("/api/v1/tournaments?limit=100").then(function (data) {
      var select = $("tournament");
      select.innerHTML = "";
      select.appendChild(new Option("—", ""));
      results(data).forEach(function (t) {
        select.appendChild(new Option(t.name, String(t.id)));
        state.names["tournament:" + t.id] = t.name;
      });
      renderMe();
      return results(data);
    }).catch(function () { $("tournament").innerHTML = "<option value=''>Tournaments unavailable</option>"; return []; });
  }

  function loadLeagues() {
    var select = $("league");
    if (!state.access) return Promise.resolve([]);
    return api("/api/v1/me/leagues", { auth: true }).then(function (data) {
      select.innerHTML = "";
      select.appendChild(new Option("—", ""));
      results(data).forEach(function (l) {
        select.appendChild(new Option(l.name, String(l.id)));
        state.names["league:" + l.id] = l.name;
      });
      select.disabled = false;
      renderMe();
      return results(data);
    }).catch(function (error) {
      if (error.status === 401) return refreshAccess().then(loadLeagues, function () { saveTokens(null, null); return []; });
      return [];
    });
  }

  function choose(board, title) {
    var kind = board ? board.split(":")[0] : null;
    $("tournament").value = kind === "tournament" ? board.split(":")[1] : "";
    $("league").value = kind === "league" ? board.split(":")[1] : "";
    var query = new URLSearchParams();
    if (board) query.set(kind, board.split(":")[1]);
    if (state.transport === "sse") query.set("transport", "sse");
    history.replaceState(null, "", location.pathname + (query.toString() ? "?" + query : ""));
    connect(board, title);
  }

  // --- connecting ------------------------------------------------------------

  function setStatus(name, text) {
    var status = $("status");
    status.dataset.state = name;
    status.textContent = text || name;
  }

  function disconnect() {
    clearTimeout(state.timer);
    state.timer = null;
    var conn = state.conn;
    state.conn = null;
    if (conn) { conn.onclose = conn.onerror = conn.onmessage = null; conn.close(); }
  }

  function connect(board, title) {
    disconnect();
    if (board !== state.board) {
      state.board = board;
      state.title = title || board || "";
      state.version = null;
      state.attempt = 0;
      render([], []);
    }
    $("board-title").textContent = state.title || "No board chosen";
    if (!board) { setStatus("idle"); return; }
    setStatus(state.attempt ? "reconnecting" : "connecting");
    var kind = board.split(":")[0], id = board.split(":")[1];
    var token = kind === "league" && state.access ? "?token=" + encodeURIComponent(state.access) : "";
    if (state.transport === "sse") openSse(liveBase.origin + "/api/v1/" + kind + "s/" + id + "/leaderboard/events" + token);
    else openWebSocket((liveBase.protocol === "https:" ? "wss://" : "ws://") + liveBase.host + "/ws/" + kind + "s/" + id + "/leaderboard/" + token);
  }

  function openWebSocket(url) {
    var socket = new WebSocket(url);
    state.conn = socket;
    socket.onmessage = function (event) { receive(JSON.parse(event.data)); };
    socket.onclose = function (event) {
      if (state.conn !== socket) return;
      state.conn = null;
      if (event.code === 4401) {
        if (state.refresh) { refreshAccess().then(function () { connect(state.board); }, function () { refused("Sign in to watch this league."); }); }
        else refused("Sign in to watch this league.");
      } else if (event.code === 4403) refused("Only members of this league can watch it.");
      else if (event.code === 4404) refused("This board does not exist.");
      else reconnectLater();
    };
  }

  function openSse(url) {
    var source = new EventSource(url);
    state.conn = source;
    var handler = function (event) { receive(JSON.parse(event.data)); };
    source.addEventListener("snapshot", handler);
    source.addEventListener("update", handler);
    source.onerror = function () {
      if (state.conn !== source) return;
      // CONNECTING: the browser resumes by itself with Last-Event-ID.
      if (source.readyState === EventSource.CONNECTING) { setStatus("reconnecting"); return; }
      state.conn = null;
      source.close();
      reconnectLater();
    };
  }

  function refused(message) {
    setStatus("refused", message);
  }

  function reconnectLater() {
    state.attempt += 1;
    // Exponential backoff with jitter, capped: a restarted server is not stampeded.
    var delay = Math.min(30000, 1000 * Math.pow(2, state.attempt - 1)) * (0.5 + Math.random() / 2);
    setStatus("reconnecting", "reconnecting in " + Math.ceil(delay / 1000) + " s");
    clearTimeout(state.timer);
    state.timer = setTimeout(function () { connect(state.board); }, delay);
  }

  function requestSnapshot() {
    if (state.transport === "websocket" && state.conn && state.conn.readyState === WebSocket.OPEN) {
      state.conn.send(JSON.stringify({ type: "snapshot" }));
    } else {
      // A new EventSource sends no Last-Event-ID, so it starts with a snapshot.
      connect(state.board);
    }
  }

  // --- messages --------------------------------------------------------------

  function receive(message) {
    if (message.board !== state.board) return;
    if (message.type === "snapshot") {
      state.version = message.version;
      state.attempt = 0;
      setStatus("live");
      render(message.top, []);
      loadInPlay();
    } else if (message.type === "update") {
      if (state.version !== null && message.version <= state.version) return;
      var gap = state.version === null || (message.previous_version != null && message.previous_version > state.version);
      if (gap) { requestSnapshot(); return; }
      state.version = message.version;
      render(message.top, message.moves || []);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      loadInPlay();
    }
    shown();
  }

  // Panels below the top 10 (pinned members) follow the board on screen through this event.
  function shown() {
    document.dispatchEvent(new CustomEvent("scoreboard:board", { detail: { board: state.board, version: state.version } }));
  }

  // --- rank since the last snapshot (rank_delta: positive means climbed) ------

  function sinceSnapshot(row) {
    var delta = row.rank_delta;
    if (delta === null || delta === undefined || delta === 0) return null;
    var span = document.createElement("span");
    span.className = "since " + (delta > 0 ? "up" : "down");
    span.textContent = (delta > 0 ? "↑" : "↓") + Math.abs(delta);
    span.title = (delta > 0 ? "up " : "down ") + Math.abs(delta) + " since the last daily ranking";
    return span;
  }

  // --- matches in play ---------------------------------------------------------
  // The board's REST answer says which matches are in play and their score;
  // read once after each message (one read at a time, the last one wins).

  function loadInPlay() {
    var board = state.board;
    if (!board) return;
    var kind = board.split(":")[0], id = board.split(":")[1];
    // "no-cache": the answer cached a moment ago may predate the update just shown (revalidated by ETag).
    var request = api("/api/v1/" + kind + "s/" + id + "/leaderboard?limit=1", { auth: kind === "league", cache: "no-cache" });
    state.inPlay = request;
    request.then(function (data) {
      if (state.inPlay !== request || state.board !== board) return;
      renderInPlay(data.live_matches || []);
    }, function () { /* the next message tries again */ });
  }

  function renderInPlay(matches) {
    var box = $("in-play");
    box.innerHTML = "";
    box.hidden = false;
    if (!matches.length) { box.textContent = "No match in play."; return; }
    box.appendChild(document.createTextNode("In play: "));
    matches.forEach(function (m) {
      var span = document.createElement("span");
      span.className = "match";
      span.dataset.matchId = m.id;
      span.textContent = "match " + m.id + "  " + m.home_score + "–" + m.away_score;
      box.appendChild(span);
    });
  }

  // --- my rank -----------------------------------------------------------------
  // The signed-in member's own stream: one `rank` message per board on
  // connecting, then one whenever their rank or points on a board change.

  function setMeStatus(name, text) {
    var status = $("me-status");
    status.dataset.state = name;
    status.textContent = text || name;
  }

  function disconnectMe() {
    clearTimeout(state.me.timer);
    state.me.timer = null;
    var conn = state.me.conn;
    state.me.conn = null;
    if (conn) { conn.onclose = conn.onerror = conn.onmessage = null; conn.close(); }
  }

  // An achievement just earned: listed under the rank panel, newest first.
  function showAchievement(message) {
    var list = $("me-achievements");
    var item = document.createElement("li");
    item.dataset.code = message.code;
    item.textContent = "Achievement: " + message.name;
    list.insertBefore(item, list.firstChild);
    list.hidden = false;
  }

  function connectMe() {
    disconnectMe();
    if (!state.access) { state.me.ranks = {}; renderMe(); setMeStatus("idle", "sign in to follow your rank"); return; }
    setMeStatus(state.me.attempt ? "reconnecting" : "connecting");
    var token = "token=" + encodeURIComponent(state.access);
    var receiveMe = function (message) {
      if (message.type === "achievement") { showAchievement(message); return; }
      if (message.type !== "rank") return;
      var last = state.me.ranks[message.board];
      if (last && message.version < last.version) return;
      message.moved = !!(last && last.rank !== message.rank);
      state.me.ranks[message.board] = message;
      state.me.attempt = 0;
      setMeStatus("live");
      renderMe();
    };
    if (state.transport === "sse") {
      // EventSource cannot send headers: the token goes in the query, as for league boards.
      var source = new EventSource(liveBase.origin + "/api/v1/me/events?" + token);
      state.me.conn = source;
      source.onopen = function () { setMeStatus("live"); };
      source.addEventListener("rank", function (event) { receiveMe(JSON.parse(event.data)); });
      source.addEventListener("achievement", function (event) { receiveMe(JSON.parse(event.data)); });
      source.onerror = function () {
        if (state.me.conn !== source) return;
        if (source.readyState === EventSource.CONNECTING) { setMeStatus("reconnecting"); return; }
        state.me.conn = null;
        source.close();
        // Closed for good: maybe refused (401); a fresh token, if any, and a retry.
        refreshAccess().then(connectMeLater, connectMeLater);
      };
      return;
    }
    var socket = new WebSocket((liveBase.protocol === "https:" ? "wss://" : "ws://") + liveBase.host + "/ws/me/?" + token);
    state.me.conn = socket;
    socket.onopen = function () { setMeStatus("live"); };
    socket.onmessage = function (event) { receiveMe(JSON.parse(event.data)); };
    socket.onclose = function (event) {
      if (state.me.conn !== socket) return;
      state.me.conn = null;
      if (event.code === 4401) {
        if (state.refresh) refreshAccess().then(connectMe, function () { setMeStatus("refused", "sign in again to follow your rank"); });
        else setMeStatus("refused", "sign in again to follow your rank");
      } else connectMeLater();
    };
  }

  function connectMeLater() {
    state.me.attempt += 1;
    var delay = Math.min(30000, 1000 * Math.pow(2, state.me.attempt - 1)) * (0.5 + Math.random() / 2);
    setMeStatus("reconnecting", "reconnecting in " + Math.ceil(delay / 1000) + " s");
    clearTimeout(state.me.timer);
    state.me.timer = setTimeout(connectMe, delay);
  }

  function renderMe() {
    var boards = Object.keys(state.me.ranks).sort();
    var tbody = document.querySelector("#me-ranks tbody");
    tbody.innerHTML = "";
    boards.forEach(function (board) {
      var message = state.me.ranks[board];
      var tr = document.createElement("tr");
      tr.dataset.board = board;
      tr.appendChild(cell(state.names[board] || board, "board"));
      tr.appendChild(cell(message.rank, "num rank" + (message.moved ? " moved" : "")));
      tr.appendChild(cell(message.total, "num total"));
      tr.appendChild(cell(message.points, "num points"));
      tr.appendChild(cell(message.live_points ?? 0, "num live"));
      tbody.appendChild(tr);
    });
    $("me-ranks").hidden = boards.length === 0;
  }

  // --- rendering -------------------------------------------------------------

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function render(rows, moves) {
    var tbody = document.querySelector("#board tbody");
    var before = {};
    var previous = {};
    Array.prototype.forEach.call(tbody.rows, function (tr) {
      before[tr.dataset.memberId] = tr.getBoundingClientRect().top;
      previous[tr.dataset.memberId] = tr.dataset.points;
    });
    var moved = {};
    moves.forEach(function (m) { moved[m.member_id] = m; });

    tbody.innerHTML = "";
    rows.forEach(function (row) {
      var id = String(row.member.id);
      var tr = document.createElement("tr");
      tr.dataset.memberId = id;
      tr.dataset.rank = row.rank;
      tr.dataset.points = row.points;
      var badge = cell("", "delta");
      var move = moved[row.member.id];
      if (move) {
        var span = document.createElement("span");
        if (move.old_rank === null) { span.className = "move new"; span.textContent = "new"; }
        else if (move.old_rank > move.new_rank) { span.className = "move up"; span.textContent = "▲" + (move.old_rank - move.new_rank); }
        else if (move.old_rank < move.new_rank) { span.className = "move down"; span.textContent = "▼" + (move.new_rank - move.old_rank); }
        badge.appendChild(span);
      }
      tr.appendChild(cell(row.rank, "num rank"));
      tr.appendChild(badge);
      var name = cell(row.member.display_name, "name");
      var since = sinceSnapshot(row);
      if (since) name.appendChild(since);
      tr.appendChild(name);
      tr.appendChild(cell(row.points, "num points"));
      tr.appendChild(cell(row.live_points ?? 0, "num live"));
      tr.appendChild(cell(row.exact_hits, "num"));
      tr.appendChild(cell(row.outcome_hits, "num"));
      if (moves.length && !(id in before)) tr.classList.add("entered");
      if (id in previous && previous[id] !== String(row.points)) tr.classList.add("changed");
      tbody.appendChild(tr);
    });

    // FLIP: start each kept row where it was, then let it slide to its new place.
    Array.prototype.forEach.call(tbody.rows, function (tr) {
      var from = before[tr.dataset.memberId];
      if (from === undefined) return;
      var delta = from - tr.getBoundingClientRect().top;
      if (!delta) return;
      tr.style.transition = "none";
      tr.style.transform = "translateY(" + delta + "px)";
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          tr.style.transition = "transform 600ms ease";
          tr.style.transform = "";
        });
      });
    });

    state.rows = rows;
    $("empty").hidden = rows.length > 0;
    $("empty").textContent = state.board ? "Nobody on this board yet." : "Pick a tournament or a league.";
    $("version").textContent = state.version === null ? "" : "version " + state.version;
  }

  // --- wiring ----------------------------------------------------------------

  $("transport").value = state.transport;
  $("transport").addEventListener("change", function (event) {
    state.transport = event.target.value;
    var board = state.board;
    state.board = null;
    choose(board, state.title);
    connectMe();
  });
  $("tournament").addEventListener("change", function (event) {
    var option = event.target.selectedOptions[0];
    choose(event.target.value ? "tournament:" + event.target.value : null, option ? option.textContent : "");
  });
  $("league").addEventListener("change", function (event) {
    var option = event.target.selectedOptions[0];
    choose(event.target.value ? "league:" + event.target.value : null, option ? option.textContent : "");
  });
  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    $("signin-error").hidden = true;
    api("/api/v1/auth/token", { method: "POST", body: { username: $("username").value, password: $("password").value } })
      .then(function (data) {
        saveTokens(data.access, data.refresh);
        $("password").value = "";
        $("signin").open = false;
        state.me.ranks = {};  // maybe another member than before
        connectMe();
        return loadLeagues();
      })
      .catch(function (error) { $("signin-error").textContent = error.message; $("signin-error").hidden = false; });
  });
  $("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    saveTokens($("token").value.trim(), null);
    $("token").value = "";
    state.me.ranks = {};
    connectMe();
    loadLeagues();
  });
  window.addEventListener("online", function () {
    if (state.board && !state.conn) connect(state.board);
    if (state.access && !state.me.conn) connectMe();
  });
  connectMe();

  Promise.all([loadTournaments(), loadLeagues()]).then(function (lists) {
    var tournaments = lists[0], leagues = lists[1];
    var find = function (list, id) { return list.filter(function (x) { return String(x.id) === id; })[0]; };
    if (params.get("league")) {
      var league = find(leagues, params.get("league"));
      choose("league:" + params.get("league"), league ? league.name : "League " + params.get("league"));
    } else if (params.get("tournament")) {
      var tournament = find(tournaments, params.get("tournament"));
      choose("tournament:" + params.get("tournament"), tournament ? tournament.name : "Tournament " + params.get("tournament"));
    } else if (tournaments.length) {
      var running = tournaments.filter(function (t) { return t.status === "running"; })[0] || tournaments[0];
      choose("tournament:" + running.id, running.name);
    }
  });
})();
