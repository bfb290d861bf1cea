// The agent's seat: the hand-off inbox and one chat's page, kept live with
// server-sent events (api/dashboard/seat.py). Every text from a chat is inserted
// as text, never as HTML. Without this script the pages still work: they show
// what was there when loaded, and their forms post and reload.
(function () {
  "use strict";

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) { return seconds + "s"; }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) { return minutes + "m " + String(seconds % 60).padStart(2, "0") + "s"; }
    return Math.floor(minutes / 60) + "h " + String(minutes % 60).padStart(2, "0") + "m";
  }

  // ------------------------------------------------------------------ inbox

  var inbox = document.getElementById("inbox");
  if (inbox) {
    var rows = document.getElementById("inbox-rows");
    var csrf = inbox.getAttribute("data-csrf");
    var offset = 0; // server clock minus ours, in seconds
    var status = document.getElementById("live-status");

    var tick = function () {
      var now = Date.now() / 1000 + offset;
      Array.prototype.forEach.call(rows.querySelectorAll("tr[data-requested]"), function (row) {
        row.querySelector(".wait").textContent =
          duration(now - parseFloat(row.getAttribute("data-requested")));
      });
    };

    var render = function (entries) {
      rows.textContent = "";
      if (!entries.length) {
        var none = el("tr", null, "none");
        var cell = el("td", "Nobody is waiting for a person.", "empty");
        cell.colSpan = 8;
        none.appendChild(cell);
        rows.appendChild(none);
        return;
      }
      entries.forEach(function (e) {
        var row = el("tr");
        row.setAttribute("data-handoff", e.id);
        row.setAttribute("data-requested", e.requested_at);
        row.appendChild(el("td", "", "wait"));
        var who = el("td", e.customer || e.requester);
        who.appendChild(el("br"));
        who.appendChild(el("small", e.requester + " \u00b7 " + e.partner));
        row.appendChild(who);
        row.appendChild(el("td", e.topic || "\u2013"));
        var triage = el("td");
        if (e.triage) { triage.appendChild(el("span", e.triage, "triage triage-" + e.triage)); } else { triage.textContent = "\u2013"; }
        row.appendChild(triage);
        row.appendChild(el("td", e.last_message, "preview"));
        row.appendChild(el("td", e.channel));
        var state = el("td");
        if (e.status === "waiting") { state.appendChild(el("span", "waiting", "warn")); } else { state.textContent = "with " + e.agent; }
        row.appendChild(state);
        var act = el("td");
        if (e.status === "waiting") {
          var form = el("form");
          form.method = "post";
          form.action = "/dashboard/handoffs/" + e.id + "/claim";
          var token = el("input");
          token.type = "hidden"; token.name = "csrf_token"; token.value = csrf;
          form.appendChild(token);
          var claim = el("button", "Claim");
          claim.type = "submit";
          form.appendChild(claim);
          act.appendChild(form);
        } else {
          var open = el("a", "Open");
          open.href = "/dashboard/handoffs/" + e.id;
          act.appendChild(open);
        }
        row.appendChild(act);
        rows.appendChild(row);
      });
      tick();
    };

    var source = new EventSource("/dashboard/inbox/events");
    source.addEventListener("inbox", function (event) {
      var data = JSON.parse(event.data);
      offset = data.now - Date.now() / 1000;
      render(data.entries);
      status.textContent = "";
      document.documentElement.setAttribute("data-inbox", "live");
    });
    source.onerror = function () { status.textContent = "Reconnecting\u2026"; };
    setInterval(tick, 1000);
  }

  // ------------------------------------------------------------------ one chat

  var lines = document.getElementById("chat-lines");
  var match = /^\/dashboard\/handoffs\/(\d+)/.exec(window.location.pathname);
  if (lines && match) {
    var handoffId = match[1];
    var seen = JSON.parse(document.getElementById("chat-data").textContent || "[]");
    var after = seen.length ? seen[seen.length - 1].timestamp : 0;
    var statusCell = document.getElementById("handoff-status");
    var reply = document.getElementById("reply");

    var addLine = function (line) {
      var item = el("li", null, "line line-" + line.from);
      var who = line.from === "user" ? "Customer" : line.from === "agent" ? line.name : "Assistant";
      item.appendChild(el("span", who, "who"));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("span", line.text, "said"));
      lines.appendChild(item);
      lines.scrollTop = lines.scrollHeight;
    };
    lines.scrollTop = lines.scrollHeight;

    var stream = new EventSource("/dashboard/handoffs/" + handoffId + "/events?after=" + after);
    stream.addEventListener("message", function (event) {
      var line = JSON.parse(event.data);
      if (line.timestamp > after) {
        after = line.timestamp;
        addLine(line);
      }
    });
    stream.addEventListener("state", function (event) {
      var state = JSON.parse(event.data);
      statusCell.setAttribute("data-status", state.status);
      statusCell.textContent = state.status === "claimed" ? "with " + state.agent : state.status;
      if (state.status !== "claimed" && reply) {
        Array.prototype.forEach.call(reply.elements, function (field) { field.disabled = true; });
      }
      document.documentElement.setAttribute("data-chat", "live");
    });

    if (reply) {
      reply.addEventListener("submit", function (event) {
        event.preventDefault();
        var text = reply.elements.text.value.trim();
        if (!text) { return; }
        var button = reply.querySelector("button");
        button.disabled = true;
        fetch(reply.action, {
          method: "POST",
          headers: { "Accept": "application/json" },
          body: new URLSearchParams(new FormData(reply)),
          credentials: "same-origin",
        }).then(function (answer) {
          if (answer.ok) {
            reply.elements.text.value = "";
          } else {
            return answer.json().then(function (body) {
              window.alert(body.detail || "The message was not sent.");
            });
          }
        }).catch(function () {
          window.alert("The message was not sent: the connection failed.");
        }).then(function () {
          button.disabled = false;
          reply.elements.text.focus();
        });
      });
      reply.elements.text.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          reply.requestSubmit();
        }
      });
    }
  }
}());
