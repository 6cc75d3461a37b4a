// The plain patron page: create a conversation, post with client ids, follow the SSE stream.
// User text is always inserted with textContent, never as HTML; only a staff reply's server-sanitised `html` is.
(function () {
  "use strict";
  const root = document.getElementById("chat");
  const queue = root.dataset.queue;
  const list = document.getElementById("messages");
  const statusLine = document.getElementById("status");
  const errorLine = document.getElementById("error");
  const form = document.getElementById("composer");
  const storeKey = "refdesk:" + queue;
  const seen = new Set();
  let chat = JSON.parse(sessionStorage.getItem(storeKey) || "null");
  let source = null;
  let waitNotice = null;
  const follower = refdeskFollow(document.getElementById("log"), document.getElementById("new-message"),
    document.getElementById("announce"), function () { document.getElementById("body").focus(); });
  refdeskFitViewport(root);
  const t = JSON.parse(document.getElementById("strings").textContent);
  const opened = new Set();  // link cards whose opening staff were told of, on this page
  const screen = refdeskScreen({
    t: t,
    everySeconds: Number(root.dataset.screenEvery) || 3,
    maxBytes: Number(root.dataset.maxUpload) || 5 * 1024 * 1024,
    announce: follower.announce,
    fail: function (err) { errorLine.textContent = (err && err.code && t["error." + err.code]) || (err && err.message) || ""; },
    upload: function (blob, name) {
      const form = new FormData();
      form.append("file", blob, name);
      form.append("client_id", (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random());
      form.append("screen", "1");
      return fetch("/api/v1/conversations/" + chat.id + "/files", {
        method: "POST", headers: { Authorization: "Bearer " + chat.token }, body: form,
      }).then(function (response) {
        return response.json().then(function (data) {
          if (response.ok) return data;
          const error = new Error((data.error && data.error.message) || response.statusText);
          error.code = data.error && data.error.code;
          throw error;
        });
      });
    },
  });
  // A follow-up email's link (#resume=ID.TOKEN) reopens that chat; the fragment is removed at once.
  const resume = /^#resume=([\w-]+)\.([\w-]+)$/.exec(location.hash);
  if (resume) {
    history.replaceState(null, "", location.pathname + location.search);
    if (!chat || chat.id !== resume[1]) {
      chat = { id: resume[1], token: resume[2] };
      sessionStorage.setItem(storeKey, JSON.stringify(chat));
    }
  }

  // Too many requests: wait as long as the server asks, then send the same request again; the text
  // stays in the box until it is sent. A busy desk is shown, not retried.
  function retryLater(response, path, options) {
    const wait = Math.min(3600, Math.max(1, parseInt(response.headers.get("Retry-After"), 10) || 5));
    const notice = (waitNotice = "Lots of messages at once: we will try again in " + wait + " s. Nothing you typed is lost.");
    errorLine.textContent = notice;
    return new Promise(function (resolve) { setTimeout(resolve, wait * 1000); }).then(function () {
      if (errorLine.textContent === notice) errorLine.textContent = "";
      if (waitNotice === notice) waitNotice = null;
      return api(path, options);
    });
  }

  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
    if (chat) options.headers.Authorization = "Bearer " + chat.token;
    return fetch("/api/v1" + path, options).then(function (response) {
      return response.json().then(function (data) {
        if (response.status === 429 && !(data.error && data.error.code === "desk_busy")) return retryLater(response, path, options);
        if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
        return data;
      });
    });
  }

  function fill(item, event) {
    item.textContent = "";
    if (event.author === "staff" && !(event.link && !event.deleted)) {  // a link card names its author
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = event.author_name || "Librarian";
      item.appendChild(who);
    }
    if (event.author === "staff" && event.link && !event.deleted) {
      // A librarian's link card: always a new tab here (this page hosts nothing else to navigate).
      refdeskLinkCard(item, event.link, event.author_name || "Librarian", t, {
        samePage: function () { return false; },
        open: function () {},
        opened: function () {
          if (opened.has(event.id)) return;
          opened.add(event.id);
          fetch("/api/v1/conversations/" + chat.id + "/messages/" + event.id + "/opened", {
            method: "POST", headers: { Authorization: "Bearer " + chat.token }, keepalive: true,
          }).catch(function () {});
        },
      });
    } else if (event.author === "staff" && event.html && !event.deleted) {
      // Staff formatting: HTML the server sanitised with an allowlist; patron text never takes this path.
      const holder = document.createElement("template"), box = document.createElement("div");
      holder.innerHTML = event.html;
      box.className = "formatted";
      box.appendChild(holder.content);
      item.appendChild(box);
    } else {
      item.appendChild(document.createTextNode(event.deleted ? "(message deleted)" : event.body));
    }
    (event.attachments || []).forEach(function (file) {
      refdeskAttach(item, chat.id, chat.token, file, "Download " + file.name, null, follower.changed);  // not the alt text again
    });
    if (event.edited && !event.deleted) {
      const mark = document.createElement("span");
      mark.className = "edited";
      mark.textContent = " (edited)";
      item.appendChild(mark);
    }
    item.classList.toggle("deleted", Boolean(event.deleted));
  }

  function update(event) {
    const item = list.querySelector('li[data-id="' + event.id + '"]');
    if (item) fill(item, event);
    follower.changed();
  }

  function show(event) {
    if (seen.has(event.seq)) return;
    seen.add(event.seq);
    const item = document.createElement("li");
    item.className = event.author || "system";
    item.dataset.id = event.id;
    fill(item, event);
    list.appendChild(item);
    follower.added(event.author === "patron");
    announce(event);
  }

  // The live region reads each staff or system message once: not again when a reload replays the history.
  function announce(event) {
    const key = "refdesk-heard:" + chat.id;
    if (event.author === "patron" || event.seq <= Number(sessionStorage.getItem(key) || 0)) return;
    sessionStorage.setItem(key, String(event.seq));
    follower.announce((event.author === "staff" ? (event.author_name || "Librarian") + ": " : "") + event.body);
  }

  function showStatus(data) {
    if (data.status === "active") statusLine.textContent = (data.claimed_by || "A librarian") + " is helping you.";
    else if (data.abandoned) statusLine.textContent = "You were away, so this chat was closed.";
    else if (data.status === "closed") statusLine.textContent = "This chat has ended.";
    else statusLine.textContent = "Waiting for a librarian…";
    form.hidden = data.status === "closed";
    screen.update(data.status !== "closed");
    if (data.status === "closed" && source && !data.abandoned) source.close();  // abandoned: a return reopens it
  }

  function follow() {
    source = new EventSource("/api/v1/conversations/" + chat.id + "/events?token=" + encodeURIComponent(chat.token));
    source.addEventListener("message", function (e) { show(JSON.parse(e.data)); });
    source.addEventListener("status", function (e) { showStatus(JSON.parse(e.data)); });
    source.addEventListener("message_edited", function (e) { update(JSON.parse(e.data)); });
    source.addEventListener("message_deleted", function (e) { update(JSON.parse(e.data)); });
  }

  // Once a chat is under way, the privacy note folds to one line ("What we keep") that opens it: room for messages.
  function underWay() {
    const note = document.getElementById("privacy");
    if (note && !root.classList.contains("under-way")) note.open = false;
    root.classList.add("under-way");
  }

  // No ghost chats: loading the page only shows the desk's status; the first message creates the chat.
  function start() {
    if (chat) { statusLine.textContent = "Reconnecting…"; screen.update(true); underWay(); follow(); return Promise.resolve(); }
    return api("/queues/" + encodeURIComponent(queue) + "/status").then(function (status) {
      if (chat) return;  // the patron was quicker than the status
      statusLine.textContent = status.open && status.staffed
        ? "A librarian is available. Type your question: the chat starts when you send it."
        : status.message || "Nobody is at the desk right now.";
    });
  }

  let creating = null, unsent = null;
  function ensureChat() {
    if (chat) return Promise.resolve();
    creating = creating || api("/conversations", {
      method: "POST",
      body: JSON.stringify({ queue: queue, page_url: document.referrer || location.href, language: navigator.language }),
    }).then(function (data) {
      chat = { id: data.id, token: data.token };
      sessionStorage.setItem(storeKey, JSON.stringify(chat));
      statusLine.textContent = "Waiting for a librarian…";
      screen.update(true);
      underWay();
      follow();
    }, function (err) { creating = null; throw err; });
    return creating;
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const box = document.getElementById("body");
    const body = box.value;
    if (!body.trim()) return;
    // The same text sent again after a failure keeps its client_id, so the server stores it once.
    const clientId = unsent && unsent.body === body ? unsent.clientId
      : (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    unsent = { body: body, clientId: clientId };
    if (errorLine.textContent !== waitNotice) errorLine.textContent = "";
    ensureChat()
      .then(function () { return api("/conversations/" + chat.id + "/messages", { method: "POST", body: JSON.stringify({ body: body, client_id: clientId }) }); })
      .then(function () { box.value = ""; unsent = null; })
      .catch(function (err) { errorLine.textContent = err.message; });
  });

  document.getElementById("end").addEventListener("click", function () {
    if (!chat) return;  // nothing to end: no chat was started
    api("/conversations/" + chat.id + "/close", { method: "POST" }).catch(function (err) { errorLine.textContent = err.message; });
  });

  start().catch(function (err) { errorLine.textContent = err.message; });
})();
