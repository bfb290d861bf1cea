/*
 * CSP billing desk: the embeddable chat widget.
 *
 *   <script src="https://desk.example/widget/widget.js"
 *           data-socket-url="https://bot.example" data-token="<signed chat token>"
 *           data-title="Billing help" async></script>
 *
 * Served by the API (api/widget/routes.py) as one file: the official Socket.IO
 * client (installed from npm at set-up, never from a CDN) wrapped so that it sets no
 * global, followed by this code. It talks Rasa's socket.io protocol to our channel
 * bot/channels/socketio.py: `session_request` / `session_confirm`, `user_uttered` /
 * `bot_uttered`, plus `session_history`, `bot_done` and `auth_expired`.
 *
 * Everything lives in a shadow root; bot text is never parsed as HTML (text nodes
 * only; http(s) links become <a> elements). The conversation survives dropped
 * connections and reloads of the tab: the server-issued session id and the messages
 * are kept in sessionStorage, and the server re-sends the history on resume.
 *
 * Every string it shows comes from the text catalogue (common/texts/<lang>.yml,
 * `widget`), which the API puts in front of this code as `TEXTS`.
 *
 * A person in the chat (docs/channels.md, "A person in the chat"): an agent's
 * message is `{from: "agent", name, text}` and shows under the agent's name in a
 * bubble of its own; `{handoff: "waiting", desk_open, opens_at, ticket}` riding on
 * the bot's hand-off message starts the "waiting for a person" banner, an agent's
 * message turns it into "you're chatting with ...", `{handoff: "ended"}` ends it.
 * Replies that arrive while the window is closed count on the launcher's badge
 * and in the page title until it is opened.
 *
 * Page API: window.CSPChat.open(), .close(), .send(text), .setToken(token).
 * Page events: "cspchat:token-expired" on window when the token needs renewing.
 */
/* global io, TEXTS */
(function (io, script, texts) {
  "use strict";

  function t(key, values) {
    // A catalogue string with {name} filled from `values` (unknown names kept).
    var template = Object.prototype.hasOwnProperty.call(texts, key)
      ? String(texts[key])
      : key;
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name)
        ? String(values[name])
        : whole;
    });
  }

  if (!script || window.CSPChat) {
    return;
  }
  if (typeof io !== "function") {
    console.error("chat widget: the socket.io client is missing");
    return;
  }

  var config = {
    socketUrl: script.getAttribute("data-socket-url") || "",
    socketPath: script.getAttribute("data-socket-path") || "/socket.io",
    token: script.getAttribute("data-token") || "",
    title: script.getAttribute("data-title") || t("title"),
    greeting: script.getAttribute("data-greeting") || t("greeting"),
    startOpen: script.getAttribute("data-open") === "true",
  };
  if (!config.socketUrl) {
    console.error("chat widget: data-socket-url is required");
    return;
  }

  var STORAGE_KEY = "cspchat:v1";
  var MAX_STORED = 120;
  var TYPING_TIMEOUT_MS = 45000;

  // ------------------------------------------------------------------ storage

  function loadState() {
    try {
      var raw = window.sessionStorage.getItem(STORAGE_KEY);
      var state = raw ? JSON.parse(raw) : null;
      if (state && typeof state === "object" && Array.isArray(state.messages)) {
        return state;
      }
    } catch (e) {
      /* storage blocked or corrupt: start afresh */
    }
    return { sessionId: null, messages: [], open: false, unread: 0 };
  }

  function randomHex(bytes) {
    var values = new Uint8Array(bytes);
    window.crypto.getRandomValues(values);
    return Array.prototype.map
      .call(values, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  function saveState() {
    try {
      state.messages = state.messages.slice(-MAX_STORED);
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (e) {
      /* storage full or blocked: the server still has the history */
    }
  }

  var state = loadState();

  // ------------------------------------------------------------------ styles

  var CSS = [
    ":host { all: initial; }",
    "* { box-sizing: border-box; }",
    ".root { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;",
    "  color: #1b1b1b; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; }",
    ".launcher { width: 56px; height: 56px; border-radius: 50%; border: 0;",
    "  background: #0f5cc0; color: #fff; cursor: pointer; display: grid; place-items: center;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); }",
    ".launcher:hover { background: #0b4a9c; }",
    ".launcher { position: relative; }",
    ".badge { position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px;",
    "  padding: 0 6px; border-radius: 11px; background: #c50f1f; color: #fff; font-size: 12px;",
    "  font-weight: 700; line-height: 22px; text-align: center; border: 2px solid #fff; }",
    ".badge[hidden] { display: none; }",
    "button:focus-visible, textarea:focus-visible, a:focus-visible {",
    "  outline: 3px solid #ffb900; outline-offset: 2px; }",
    ".panel { position: absolute; right: 0; bottom: 70px; width: 360px; max-width: calc(100vw - 40px);",
    "  height: 520px; max-height: calc(100vh - 110px); background: #fff; border-radius: 12px;",
    "  box-shadow: 0 8px 30px rgba(0,0,0,.3); display: flex; flex-direction: column; overflow: hidden; }",
    ".panel[hidden] { display: none; }",
    ".header { background: #0f5cc0; color: #fff; padding: 10px 12px; display: flex;",
    "  align-items: center; justify-content: space-between; }",
    ".header h2 { font-size: 16px; margin: 0; font-weight: 600; }",
    ".close { background: transparent; border: 0; color: #fff; font-size: 22px; cursor: pointer;",
    "  width: 36px; height: 36px; border-radius: 6px; }",
    ".status { font-size: 12px; padding: 4px 12px; background: #fff4ce; color: #3b2e00; }",
    ".status:empty { display: none; }",
    ".log { flex: 1; overflow-y: auto; padding: 12px; background: #f5f7fa; }",
    ".msg { margin: 6px 0; display: flex; flex-direction: column; }",
    ".bubble { padding: 8px 11px; border-radius: 12px; max-width: 85%; white-space: pre-wrap;",
    "  overflow-wrap: anywhere; }",
    ".bot .bubble { background: #fff; border: 1px solid #dde3ea; align-self: flex-start; }",
    ".user .bubble { background: #0f5cc0; color: #fff; align-self: flex-end; }",
    ".bot a, .agent a { color: #0f5cc0; }",
    ".agent .bubble { background: #e9f6ec; border: 1px solid #8cc79a; border-left: 4px solid #107c10;",
    "  align-self: flex-start; }",
    ".agent .name { font-size: 12px; font-weight: 600; color: #0b5a0b; margin: 0 0 2px 2px; }",
    ".notice { align-items: center; }",
    ".notice .bubble { background: transparent; border: 0; border-left: 0; color: #3d4650;",
    "  font-size: 12px; font-style: italic; text-align: center; max-width: 100%; }",
    ".handoff { font-size: 13px; padding: 8px 12px; background: #e9f6ec; color: #0b3d0b;",
    "  border-bottom: 1px solid #8cc79a; display: flex; flex-direction: column; gap: 6px; }",
    ".handoff[hidden] { display: none; }",
    ".handoff.waiting { background: #fff8e6; color: #3b2e00; border-bottom-color: #e3c36b; }",
    ".handoff .ticket { align-self: flex-start; border: 1px solid #0f5cc0; color: #0f5cc0;",
    "  background: #fff; border-radius: 16px; padding: 4px 12px; cursor: pointer; font: inherit; }",
    ".handoff .ticket[hidden] { display: none; }",
    ".sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden;",
    "  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }",
    ".replies { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }",
    ".reply { border: 1px solid #0f5cc0; color: #0f5cc0; background: #fff; border-radius: 16px;",
    "  padding: 5px 12px; cursor: pointer; font: inherit; }",
    ".reply:hover { background: #e8f0fb; }",
    ".reply:disabled { opacity: .5; cursor: default; }",
    ".msg img { max-width: 100%; border-radius: 8px; }",
    ".typing { padding: 0 12px 6px; background: #f5f7fa; }",
    ".typing[hidden] { display: none; }",
    ".dots { display: inline-flex; gap: 4px; padding: 8px 11px; background: #fff;",
    "  border: 1px solid #dde3ea; border-radius: 12px; }",
    ".dots span { width: 6px; height: 6px; border-radius: 50%; background: #8a96a3;",
    "  animation: blink 1.2s infinite ease-in-out; }",
    ".dots span:nth-child(2) { animation-delay: .2s; } .dots span:nth-child(3) { animation-delay: .4s; }",
    "@keyframes blink { 0%, 80%, 100% { opacity: .3; } 40% { opacity: 1; } }",
    "@media (prefers-reduced-motion: reduce) { .dots span { animation: none; } }",
    ".composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #dde3ea; }",
    ".composer textarea { flex: 1; resize: none; border: 1px solid #b8c2cc; border-radius: 8px;",
    "  padding: 8px; font: inherit; height: 40px; }",
    ".send { border: 0; background: #0f5cc0; color: #fff; border-radius: 8px; padding: 0 14px;",
    "  font: inherit; cursor: pointer; }",
    ".send:disabled { background: #8a96a3; cursor: default; }",
  ].join("\n");

  // ------------------------------------------------------------------ DOM

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") {
        node.textContent = attrs[name];
      } else if (name === "className") {
        node.className = attrs[name];
      } else {
        node.setAttribute(name, attrs[name]);
      }
    });
    (children || []).forEach(function (child) {
      node.appendChild(child);
    });
    return node;
  }

  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "26");
    svg.setAttribute("height", "26");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute(
      "d",
      "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"
    );
    svg.appendChild(path);
    return svg;
  }

  var host = el("div", { id: "cspchat-host" });
  var shadow = host.attachShadow({ mode: "open" });
  if (window.CSSStyleSheet && "adoptedStyleSheets" in shadow) {
    var sheet = new CSSStyleSheet(); // works under a strict CSP (no inline <style>)
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.appendChild(el("style", { text: CSS }));
  }

  var uid = "cspchat-" + Math.random().toString(36).slice(2, 8);
  var launcher = el("button", {
    className: "launcher",
    type: "button",
    "aria-label": t("open_chat", { title: config.title }),
    "aria-expanded": "false",
    "aria-controls": uid + "-panel",
  });
  launcher.appendChild(chatIcon());
  var badge = el("span", { className: "badge", "aria-hidden": "true", hidden: "" });
  launcher.appendChild(badge);
  var title = el("h2", { id: uid + "-title", text: config.title });
  var closeButton = el("button", {
    className: "close",
    type: "button",
    "aria-label": t("close"),
    text: "\u00D7",
  });
  var status = el("div", { className: "status", role: "status" });
  var log = el("div", {
    className: "log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": t("conversation"),
    tabindex: "0",
  });
  var typing = el("div", { className: "typing", hidden: "" }, [
    el("span", { className: "sr-only", text: t("typing") }),
    el("span", { className: "dots", "aria-hidden": "true" }, [
      el("span"),
      el("span"),
      el("span"),
    ]),
  ]);
  var input = el("textarea", {
    id: uid + "-input",
    rows: "1",
    placeholder: t("placeholder"),
    "aria-describedby": uid + "-hint",
    maxlength: "2000",
  });
  var sendButton = el("button", { className: "send", type: "submit", text: t("send") });
  var composer = el("form", { className: "composer" }, [
    el("label", { className: "sr-only", for: uid + "-input", text: t("message_label") }),
    el("span", { className: "sr-only", id: uid + "-hint", text: t("hint") }),
    input,
    sendButton,
  ]);
  // The hand-off banner: waiting for a person (and when the desk opens), or who
  // is answering. A status region, so that screen readers hear it change.
  var handoffText = el("span", { className: "handoff-text" });
  var handoffHours = el("span", { className: "handoff-hours" });
  var ticketButton = el("button", {
    className: "ticket",
    type: "button",
    text: t("ticket_instead"),
    hidden: "",
  });
  var handoffBar = el(
    "div",
    { className: "handoff", role: "status", "aria-live": "polite", hidden: "" },
    [handoffText, handoffHours, ticketButton]
  );
  var panel = el(
    "div",
    {
      className: "panel",
      id: uid + "-panel",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": uid + "-title",
      hidden: "",
    },
    [
      el("div", { className: "header" }, [title, closeButton]),
      status,
      handoffBar,
      log,
      typing,
      composer,
    ]
  );
  shadow.appendChild(el("div", { className: "root" }, [panel, launcher]));

  // ------------------------------------------------------------------ rendering

  // Markdown links, bare http(s) URLs, e-mail addresses and international phone
  // numbers (+ and a country code, as partners' profiles give them).
  var LINK = new RegExp(
    [
      "\\[([^\\]\\n]+)\\]\\((https?:\\/\\/[^)\\s]+)\\)",
      "(https?:\\/\\/[^\\s<>\"')\\]]+)",
      "([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,})",
      "(\\+\\d{1,3}(?:[ .-]?\\(?\\d{1,5}\\)?){1,6})",
    ].join("|"),
    "g"
  );
  var EMAIL = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/;

  function safeUrl(href) {
    try {
      var url = new URL(href, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(label, href) {
    var url = safeUrl(href);
    if (!url) {
      return document.createTextNode(label);
    }
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: label });
  }

  function contactLink(kind, matched) {
    // mailto:/tel: links built from the matched characters only (the patterns
    // admit no quote, angle bracket, colon or space in an address); the label is
    // a text node. A phone number needs 8 to 15 digits (E.164).
    if (kind === "email") {
      if (!EMAIL.test(matched)) {
        return null;
      }
      return el("a", { href: "mailto:" + matched, text: matched });
    }
    var digits = matched.replace(/\D/g, "");
    if (digits.length < 8 || digits.length > 15) {
      return null;
    }
    return el("a", { href: "tel:+" + digits, text: matched });
  }

  function appendRich(parent, text) {
    // Text nodes only; markdown links, bare http(s) URLs, e-mail addresses and
    // phone numbers become <a>, **x** <strong>. Nothing is parsed as HTML.
    var last = 0;
    var match;
    LINK.lastIndex = 0;
    while ((match = LINK.exec(text)) !== null) {
      if (match[4] || match[5]) {
        var kind = match[4] ? "email" : "phone";
        var found = (match[4] || match[5]).replace(/[\s.-]+$/, "");
        var anchor = contactLink(kind, found);
        if (anchor) {
          appendBold(parent, text.slice(last, match.index));
          parent.appendChild(anchor);
          last = match.index + found.length;
        }
        LINK.lastIndex = match.index + Math.max(found.length, 1);
        continue;
      }
      appendBold(parent, text.slice(last, match.index));
      if (match[3]) {
        var bare = match[3].replace(/[.,;:!?]+$/, "");
        parent.appendChild(link(bare, bare));
        last = match.index + bare.length;
        LINK.lastIndex = last;
      } else {
        parent.appendChild(link(match[1], match[2]));
        last = match.index + match[0].length;
      }
    }
    appendBold(parent, text.slice(last));
  }

  function appendBold(parent, text) {
    var parts = text.split("**");
    parts.forEach(function (part, index) {
      if (!part) {
        return;
      }
      if (index % 2 === 1 && index < parts.length - 1) {
        parent.appendChild(el("strong", { text: part }));
      } else {
        parent.appendChild(document.createTextNode(part));
      }
    });
  }

  function choicesOf(message) {
    var list = message.quick_replies || message.buttons || [];
    return Array.isArray(list) ? list : [];
  }

  function senderOf(message) {
    if (message.from === "user") {
      return "user";
    }
    return message.from === "agent" ? "agent" : "bot";
  }

  function isMarker(message) {
    // A hand-off state change with nothing to show (its text came separately).
    return typeof message.handoff === "string" && !message.text && !choicesOf(message).length;
  }

  function agentName(message) {
    return String(message.name || "").trim() || t("agent_unnamed");
  }

  function render(message, live) {
    if (isMarker(message)) {
      return;
    }
    var who = senderOf(message);
    var joined = who === "agent" && message.event === "joined";
    var row = el("div", { className: "msg " + who + (joined ? " notice" : "") });
    var said = t("assistant_said");
    if (who === "user") {
      said = t("you_said");
    } else if (who === "agent") {
      said = t("agent_said", { name: agentName(message) });
    }
    row.appendChild(el("span", { className: "sr-only", text: said }));
    if (who === "agent" && !joined) {
      row.appendChild(el("span", { className: "name", "aria-hidden": "true", text: agentName(message) }));
    }
    if (message.text) {
      var bubble = el("div", { className: "bubble" });
      if (who === "user") {
        bubble.textContent = String(message.text);
      } else {
        appendRich(bubble, String(message.text));
      }
      row.appendChild(bubble);
    }
    var attachment = message.attachment;
    if (attachment && attachment.type === "image" && attachment.payload) {
      var src = safeUrl(attachment.payload.src || "");
      if (src) {
        row.appendChild(el("img", { src: src, alt: t("image_alt") }));
      }
    }
    var choices = choicesOf(message);
    if (choices.length) {
      var group = el("div", { className: "replies", role: "group", "aria-label": t("choices") });
      choices.forEach(function (choice) {
        var button = el("button", {
          className: "reply",
          type: "button",
          text: String(choice.title || choice.payload || ""),
        });
        button.addEventListener("click", function () {
          Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) {
            b.disabled = true;
          });
          send(String(choice.payload || choice.title || ""), String(choice.title || ""));
          input.focus();
        });
        group.appendChild(button);
      });
      if (!live) {
        // Choices of earlier messages stay visible but are not offered again.
        Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) {
          b.disabled = true;
        });
      }
      row.appendChild(group);
    }
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }

  function renderAll() {
    while (log.firstChild) {
      log.removeChild(log.firstChild);
    }
    if (config.greeting) {
      render({ from: "bot", text: config.greeting }, false);
    }
    var shown = state.messages.filter(function (message) {
      return !isMarker(message);
    });
    shown.forEach(function (message, index) {
      var isLast = index === shown.length - 1;
      render(message, isLast && message.from !== "user");
    });
    showHandoff();
  }

  function add(message) {
    state.messages.push(message);
    if (message.from !== "user" && !isMarker(message) && panel.hidden) {
      state.unread = (state.unread || 0) + 1;
    }
    saveState();
    render(message, message.from !== "user");
    showHandoff();
    showUnread();
  }

  // ------------------------------------------------------------------ hand-off

  function handoffState(messages) {
    // The latest hand-off state the conversation says: null (with the bot),
    // {phase: "waiting", ...the marker} or {phase: "agent", name}.
    var current = null;
    messages.forEach(function (message) {
      if (message.handoff === "waiting") {
        current = { phase: "waiting", marker: message };
      } else if (message.handoff === "ended") {
        current = null;
      } else if (message.from === "agent") {
        current = { phase: "agent", name: agentName(message) };
      }
    });
    return current;
  }

  function opensAt(marker) {
    // When the desk opens, in the customer's own time zone and language.
    var when = new Date(String(marker.opens_at || ""));
    if (isNaN(when.getTime())) {
      return "";
    }
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        weekday: "long",
        day: "numeric",
        month: "long",
        hour: "numeric",
        minute: "2-digit",
        timeZoneName: "short",
      }).format(when);
    } catch (e) {
      return when.toLocaleString();
    }
  }

  var ticketAsked = false;

  function showHandoff() {
    var current = handoffState(state.messages);
    if (!current) {
      handoffBar.hidden = true;
      handoffBar.className = "handoff";
      handoffText.textContent = "";
      handoffHours.textContent = "";
      ticketButton.hidden = true;
      ticketAsked = false;
      return;
    }
    handoffBar.hidden = false;
    if (current.phase === "agent") {
      handoffBar.className = "handoff agent";
      handoffText.textContent = t("with_agent", { name: current.name });
      handoffHours.textContent = "";
      ticketButton.hidden = true;
      return;
    }
    var marker = current.marker;
    var closed = marker.desk_open === false;
    var opens = closed ? opensAt(marker) : "";
    handoffBar.className = "handoff waiting";
    handoffText.textContent = t(closed ? "waiting_closed" : "waiting");
    handoffHours.textContent = opens ? t("desk_opens", { time: opens }) : "";
    ticketButton.hidden = !(closed && marker.ticket === true) || ticketAsked;
  }

  ticketButton.addEventListener("click", function () {
    if (!(ready && socket.connected)) {
      setStatus(t("ticket_offline"));
      return;
    }
    ticketAsked = true;
    ticketButton.hidden = true;
    socket.emit("handoff_ticket", { session_id: state.sessionId });
    setTyping(true);
    input.focus();
  });

  // ------------------------------------------------------------------ unread

  var pageTitle = document.title;
  var shownTitle = null; // the title we set, if it is still the page's

  function showUnread() {
    var count = state.unread || 0;
    badge.hidden = count === 0;
    badge.textContent = count > 99 ? "99+" : String(count);
    var label = t(panel.hidden ? "open_chat" : "close_chat", { title: config.title });
    if (document.title !== shownTitle) {
      pageTitle = document.title; // the page changed its own title meanwhile
    }
    if (count && panel.hidden) {
      label += " " + t("unread", { count: count });
      shownTitle = t("unread_title", { count: count, title: pageTitle });
      document.title = shownTitle;
    } else if (shownTitle !== null) {
      document.title = pageTitle;
      shownTitle = null;
    }
    launcher.setAttribute("aria-label", label);
  }

  // ------------------------------------------------------------------ typing

  var typingTimer = null;

  function setTyping(on) {
    clearTimeout(typingTimer);
    typing.hidden = !on;
    if (on) {
      typingTimer = setTimeout(function () {
        setTyping(false);
      }, TYPING_TIMEOUT_MS);
      log.scrollTop = log.scrollHeight;
    }
  }

  function setStatus(text) {
    status.textContent = text || "";
  }

  // ------------------------------------------------------------------ socket

  var ready = false; // a session is confirmed on the current connection
  var outbox = []; // messages typed while (re)connecting: {payload, message}
  var flushed = []; // sent from the outbox since the session was confirmed
  // The routing key of this conversation: a proxy in front of several Rasa replicas
  // (deploy/production/nginx.conf.j2) hashes it so that the conversation, its
  // reconnects and every long-polling request reach the same replica. Random, kept
  // with the conversation; it names no one and grants nothing.
  if (typeof state.route !== "string" || !/^[0-9a-f]{32}$/.test(state.route)) {
    state.route = randomHex(16);
    saveState();
  }
  var socket = io(config.socketUrl, {
    path: config.socketPath,
    query: { conversation: state.route },
    transports: ["websocket", "polling"],
    auth: config.token ? { token: config.token } : {},
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
  });

  socket.on("connect", function () {
    ready = false;
    setStatus("");
    socket.emit("session_request", { session_id: state.sessionId });
  });

  socket.on("session_confirm", function (sessionId) {
    var id = typeof sessionId === "string" ? sessionId : (sessionId || {}).session_id;
    if (state.sessionId && state.sessionId !== id) {
      state.messages = []; // another chatter or an expired session: a new conversation
      renderAll();
    }
    state.sessionId = id;
    saveState();
    ready = true;
    flushed = [];
    while (outbox.length) {
      var queued = outbox.shift();
      socket.emit("user_uttered", { message: queued.payload, session_id: id });
      flushed.push(queued.message);
      setTyping(true);
    }
  });

  socket.on("session_history", function (data) {
    if (!data || data.session_id !== state.sessionId || !Array.isArray(data.messages)) {
      return;
    }
    if (!data.messages.length) {
      return;
    }
    // The server's copy was taken before it read what the outbox just sent.
    state.messages = withDisplayText(data.messages).concat(flushed);
    flushed = [];
    saveState();
    renderAll();
    if (!state.messages.length || state.messages[state.messages.length - 1].from !== "user") {
      setTyping(false);
    }
  });

  socket.on("bot_uttered", function (message) {
    if (message && typeof message === "object") {
      add(Object.assign({ from: "bot" }, message));
      if (isMarker(message) && message.handoff === "ended") {
        setTyping(false);
      }
    }
  });

  socket.on("bot_done", function () {
    setTyping(false);
    if (ticketAsked) {
      // Answered: handed back with the ticket's number, or told why not (then
      // the button is offered again while the chat still waits).
      ticketAsked = false;
      showHandoff();
    }
  });

  socket.on("auth_expired", function () {
    window.dispatchEvent(new CustomEvent("cspchat:token-expired"));
  });

  socket.on("disconnect", function (reason) {
    ready = false;
    if (reason !== "io client disconnect") {
      setStatus(t("connection_lost"));
    }
  });

  socket.on("connect_error", function (error) {
    ready = false;
    var reason = error && error.message;
    if (reason === "invalid_token") {
      setStatus(t("sign_in_expired"));
      window.dispatchEvent(new CustomEvent("cspchat:token-expired"));
    } else if (reason === "sign_in_required") {
      setStatus(t("sign_in_required"));
    } else {
      setStatus(t("cannot_reach"));
    }
  });

  function withDisplayText(messages) {
    // A button click is stored as its payload ("/intent{...}"): show the title.
    var titles = {};
    return messages
      .map(function (message) {
        if (message.from !== "user") {
          choicesOf(message).forEach(function (choice) {
            titles[choice.payload] = choice.title;
          });
          return message;
        }
        var text = String(message.text || "");
        if (titles[text]) {
          return { from: "user", text: titles[text] };
        }
        return text.charAt(0) === "/" ? null : message;
      })
      .filter(Boolean);
  }

  // ------------------------------------------------------------------ sending

  function send(text, display) {
    var clean = String(text || "").trim();
    if (!clean) {
      return;
    }
    var message = { from: "user", text: display || clean };
    add(message);
    if (ready && socket.connected) {
      socket.emit("user_uttered", { message: clean, session_id: state.sessionId });
      setTyping(true);
    } else {
      outbox.push({ payload: clean, message: message });
      setStatus(t("offline"));
    }
  }

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    send(input.value);
    input.value = "";
    input.focus();
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit ? composer.requestSubmit() : sendButton.click();
    }
  });

  // ------------------------------------------------------------------ open/close

  function open(focus) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    state.open = true;
    state.unread = 0;
    saveState();
    showUnread();
    log.scrollTop = log.scrollHeight;
    if (focus !== false) {
      input.focus();
    }
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    state.open = false;
    saveState();
    showUnread();
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) {
      open();
    } else {
      close();
    }
  });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });

  // ------------------------------------------------------------------ start

  function mount() {
    document.body.appendChild(host);
    renderAll();
    if (config.startOpen || state.open) {
      open(false); // restored, not asked for: do not move the page's focus
    } else {
      showUnread();
    }
  }

  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }

  window.CSPChat = {
    open: function () {
      open(true);
    },
    close: close,
    send: send,
    setToken: function (token) {
      config.token = token || "";
      socket.auth = config.token ? { token: config.token } : {};
      if (socket.connected) {
        socket.emit("auth_refresh", { token: config.token });
      } else {
        socket.connect();
      }
    },
    get connected() {
      return ready && socket.connected;
    },
    get sessionId() {
      return state.sessionId;
    },
  };
})(io, document.currentScript, typeof TEXTS === "object" && TEXTS ? TEXTS : {});
