// The messenger's page: lists the inbox (GET /inbox), then follows it live
// (server-sent events from GET /events, asking only for what follows the last
// offset it has, so a message is never shown twice), sends with POST /send, and
// raises a notification for each new message: the browser's Notification when
// permission is given, an in-page toast otherwise. Every text is set with
// textContent: a message's HTML is shown, never interpreted.
"use strict";
(() => {
  const user = decodeURIComponent(location.pathname.split("/")[2] || "");
  const SEEN = "runnel-messenger-seen:" + user;
  const state = {
    inbox: new Map(), // id -> message (with offset)
    sent: new Map(), // id -> message
    lastOffset: -1,
    peer: null,
    replyTo: null,
    unread: new Map(), // peer -> count
  };
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const snippet = (t) => (t.length > 60 ? t.slice(0, 59) + "…" : t);
  const peerOf = (m) => (m.from === user ? m.to : m.from);
  const byId = (id) => state.inbox.get(id) || state.sent.get(id);

  function item(m, isNew) {
    const out = m.from === user;
    const li = el("li", "msg " + (out ? "out" : "in") + (isNew ? " new" : ""));
    li.dataset.id = m.id;
    if (m.offset != null) li.dataset.offset = m.offset;
    const head = el("div", "head");
    head.append(el("span", "from", out ? "you → " + m.to : m.from), el("time", "time", time(m.sent_at_ms)));
    li.append(head);
    if (m.reply_to) {
      const r = byId(m.reply_to);
      li.append(el("div", "reply-of", r ? "↪ " + r.from + ": " + snippet(r.text) : "↪ in reply to an earlier message"));
    }
    li.append(el("div", "text", m.text));
    if (!out) {
      const b = el("button", "reply", "Reply");
      b.type = "button";
      b.onclick = () => startReply(m);
      li.append(b);
    }
    return li;
  }

  function renderInbox(m, isNew) {
    $("inbox").append(item(m, isNew));
    $("no-inbox").hidden = true;
    $("inbox").lastElementChild.scrollIntoView({ block: "nearest" });
  }

  function render() {
    const all = new Map([...state.sent, ...state.inbox]);
    const msgs = [...all.values()].sort((a, b) => a.sent_at_ms - b.sent_at_ms);
    // The thread: everything, or the conversation with the chosen peer.
    const thread = $("thread");
    thread.replaceChildren(...msgs.filter((m) => !state.peer || peerOf(m) === state.peer).map((m) => item(m, false)));
    if (thread.lastElementChild) thread.lastElementChild.scrollIntoView({ block: "nearest" });
    $("thread-title").textContent = state.peer ? "With " + state.peer : "Everything";
    // The conversations: one per peer, the latest first.
    const last = new Map();
    for (const m of msgs) last.set(peerOf(m), m);
    const peers = [...last.entries()].sort((a, b) => b[1].sent_at_ms - a[1].sent_at_ms);
    $("conversations").replaceChildren(
      ...peers.map(([peer, m]) => {
        const li = el("li", "conversation" + (peer === state.peer ? " active" : ""));
        li.dataset.peer = peer;
        const name = el("span", "peer", peer);
        li.append(name);
        const n = state.unread.get(peer) || 0;
        if (n) li.append(el("span", "badge", String(n)));
        li.append(el("div", "last", (m.from === user ? "you: " : "") + snippet(m.text)));
        li.onclick = () => choose(peer === state.peer ? null : peer);
        return li;
      }),
    );
    $("no-conversations").hidden = peers.length > 0;
    $("peers").replaceChildren(...peers.map(([peer]) => Object.assign(el("option"), { value: peer })));
    const unread = [...state.unread.values()].reduce((a, b) => a + b, 0);
    $("unread").hidden = unread === 0;
    $("unread").textContent = unread ? unread + " new" : "";
  }

  function choose(peer) {
    state.peer = peer;
    if (peer) {
      state.unread.delete(peer);
      $("to").value = peer;
    }
    render();
  }

  function startReply(m) {
    state.replyTo = m;
    $("to").value = m.from;
    $("reply-text").textContent = "Replying to " + m.from + ": " + snippet(m.text);
    $("reply-context").hidden = false;
    $("text").focus();
  }

  function endReply() {
    state.replyTo = null;
    $("reply-context").hidden = true;
  }

  // Notifications: the browser's when allowed, a toast in the page otherwise.
  function notify(title, body, tag) {
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        const n = new Notification(title, { body, tag });
        n.onclick = () => {
          window.focus();
          n.close();
        };
        return;
      } catch (e) {
        // Some browsers allow notifications only from a service worker: toast instead.
      }
    }
    toast(title, body);
  }

  function toast(title, body) {
    const t = el("div", "toast");
    t.setAttribute("role", "status");
    t.append(el("strong", null, title), el("div", "body", body));
    t.onclick = () => t.remove();
    $("toasts").append(t);
    setTimeout(() => t.remove(), 8000);
  }

  function notifyState() {
    const button = $("notify-enable");
    if (!("Notification" in window)) {
      $("notify-state").textContent = "notifications: in-page";
      button.hidden = true;
      return;
    }
    const p = Notification.permission;
    button.hidden = p !== "default";
    $("notify-state").textContent =
      p === "granted" ? "notifications: on" : p === "denied" ? "notifications blocked: in-page" : "notifications: in-page";
  }

  function received(m, live) {
    if (state.inbox.has(m.id) || m.offset <= state.lastOffset) return false;
    state.inbox.set(m.id, m);
    state.lastOffset = m.offset;
    const peer = m.from;
    if (live && peer !== state.peer) state.unread.set(peer, (state.unread.get(peer) || 0) + 1);
    renderInbox(m, live);
    return true;
  }

  async function json(url, options) {
    const r = await fetch(url, options);
    const body = await r.json().catch(() => ({ error: r.status + " " + r.statusText }));
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  // The live stream: what follows the last offset shown.
  let source = null;
  function follow() {
    if (source) source.close();
    source = new EventSource("/events/" + encodeURIComponent(user) + "?after=" + state.lastOffset);
    source.onopen = () => {
      $("live").textContent = "live";
      $("live").className = "status on";
    };
    source.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (!received(m, true)) return;
      localStorage.setItem(SEEN, String(m.offset));
      render();
      notify("New message from " + m.from, m.text, m.id);
    };
    source.onerror = () => {
      $("live").textContent = "reconnecting…";
      $("live").className = "status off";
      // The browser retries by itself (sending Last-Event-ID) unless it gave up.
      if (source.readyState === EventSource.CLOSED) setTimeout(follow, 1000);
    };
  }

  async function start() {
    $("user").textContent = user;
    document.title = user + " — Messenger";
    notifyState();
    $("notify-enable").onclick = async () => {
      await Notification.requestPermission();
      notifyState();
    };
    json("/config")
      .then((c) => {
        $("version").textContent = "ChatMessage v" + c.schema_version;
        $("console").href = c.console_url;
      })
      .catch(() => {});

    const [inbox, sent] = await Promise.all([
      json("/inbox/" + encodeURIComponent(user)),
      json("/sent/" + encodeURIComponent(user)),
    ]);
    // What arrived while this user's pages were closed: marked, and notified once.
    const seen = Number(localStorage.getItem(SEEN) ?? -1);
    const missed = [];
    for (const m of inbox) {
      const isNew = m.offset > seen;
      received(m, false);
      if (isNew) {
        missed.push(m);
        $("inbox").lastElementChild.classList.add("new");
        state.unread.set(m.from, (state.unread.get(m.from) || 0) + 1);
      }
    }
    for (const m of sent) state.sent.set(m.id, m);
    render();
    if (missed.length === 1) notify("New message from " + missed[0].from, missed[0].text, missed[0].id);
    if (missed.length > 1) {
      const from = [...new Set(missed.map((m) => m.from))].join(", ");
      notify(missed.length + " new messages while you were away", "from " + from, "missed");
    }
    if (state.lastOffset >= 0) localStorage.setItem(SEEN, String(state.lastOffset));
    follow();
  }

  $("send-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const to = $("to").value.trim();
    const text = $("text").value;
    $("send-error").textContent = "";
    $("send").disabled = true;
    try {
      const body = { from: user, to, text };
      if (state.replyTo) body.reply_to = state.replyTo.id;
      const r = await json("/send", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      state.sent.set(r.message.id, r.message);
      state.unread.delete(to); // answering someone is reading them
      $("text").value = "";
      endReply();
      render();
    } catch (err) {
      $("send-error").textContent = err.message;
    } finally {
      $("send").disabled = false;
    }
  });
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("send-form").requestSubmit();
    }
  });
  $("reply-cancel").onclick = endReply;

  start().catch((err) => {
    $("send-error").textContent = "cannot load the inbox: " + err.message;
  });
})();
