/* refdesk chat UI (inside the widget iframe). No framework; user text only ever goes in via textContent
   (a staff reply's `html`, sanitised by the server with an allowlist, is the one exception).
   Messages are kept in sessionStorage until the server has them, and re-sent with the same client_id,
   so a lost network or a reload neither loses nor duplicates anything. */
(function () {
  "use strict";
  var root = document.getElementById("refdesk");
  var queue = root.dataset.queue;
  var lang = root.dataset.lang;
  var page = root.dataset.page || document.referrer || "";
  var t = JSON.parse(document.getElementById("strings").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var list = $("messages"), statusLine = $("status"), errorLine = $("error");
  var chatKey = "refdesk:" + queue, pendingKey = "refdesk-pending:" + queue, draftKey = "refdesk-draft:" + queue;
  var chat = read(chatKey), pending = read(pendingKey) || [], draft = read(draftKey), creating = null;
  var seen = {}, source = null, flushing = false, closed = false, waitNotice = null, claimed = false;
  var SUGGEST_DELAY = 400, suggested = [], shownIds = {}, suggestTimer = null, suggestFor = "", announcedSuggestions = "";
  var returnTo = null, openedAnswer = null, askedKey = "refdesk-asked:" + queue, shownKey = "refdesk-shown:" + queue;
  shownIds = read(shownKey) || {};
  /* A panel on the library page loads with the page: it must not take the patron's focus until they use it. */
  var embeddedInPage = /[?&]embed=panel(&|$)/.test(location.search);
  var follower = refdeskFollow($("log"), $("new-message"), $("announce"), function () { $("body").focus(); });
  refdeskFitViewport(root);
  var mailOn = root.dataset.email === "on";  /* no mail server: nothing is offered that needs email */
  var returnKey = "refdesk-return:" + queue;
  var toldOpened = {};  /* link cards whose opening staff were told of, this page (the FAQ answer shown is `openedAnswer`) */
  var screen = refdeskScreen({
    t: t,
    everySeconds: Number(root.dataset.screenEvery) || 3,
    maxBytes: Number(root.dataset.maxUpload) || 5 * 1024 * 1024,
    fail: fail,
    announce: follower.announce,
    upload: function (blob, name) {
      var form = new FormData();
      form.append("file", blob, name);
      form.append("client_id", uuid());
      form.append("screen", "1");
      errorLine.textContent = "";
      return api("/conversations/" + chat.id + "/files", { method: "POST", form: form }).then(render);
    },
  });
  chat = chat || comeBack();
  /* A follow-up email's link (#resume=ID.TOKEN) reopens that chat here; the fragment is removed at once. */
  var resume = /^#resume=([\w-]+)\.([\w-]+)$/.exec(location.hash);
  if (resume) {
    history.replaceState(null, "", location.pathname + location.search);
    if (!chat || chat.id !== resume[1]) {
      chat = { id: resume[1], token: resume[2], offline: true };
      pending = [];
      write(chatKey, chat);
      write(pendingKey, pending);
    }
  }

  /* Without email, a question left here is answered in the chat: keep its key across browser sessions
     (localStorage) so the patron who comes back on this device finds the answer, as promised. */
  function comeBack() {
    try { return mailOn ? null : JSON.parse(localStorage.getItem(returnKey)); } catch (e) { return null; }
  }
  function keepForReturn() {
    try { if (!mailOn && chat && chat.offline) localStorage.setItem(returnKey, JSON.stringify(chat)); } catch (e) { /* private mode */ }
  }
  function forgetReturn() {
    try { localStorage.removeItem(returnKey); } catch (e) { /* private mode */ }
  }

  function read(key) { try { return JSON.parse(sessionStorage.getItem(key)); } catch (e) { return null; } }
  function write(key, value) { sessionStorage.setItem(key, JSON.stringify(value)); }
  function format(text, values) { return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] || ""; }); }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  var VIEWS = ["start", "offline", "chat", "faq-answer", "faq-done"], view = null;
  function show(id) {
    view = id;
    VIEWS.forEach(function (name) { $(name).hidden = name !== id; });
    placeSuggestions();
  }
  function say(text) { statusLine.textContent = text; }
  /* Before a chat the privacy note is shown in full; once one is under way it folds to "What we keep" (one line,
     a <details> the patron can open) so the messages get the panel. */
  function underWay(on) {
    if (on !== root.classList.contains("under-way")) $("privacy").open = !on;
    root.classList.toggle("under-way", on);
  }
  function fail(error) {
    var localized = error && error.code && t["error." + error.code];
    errorLine.textContent = localized || (error && error.message) || t["error.generic"];
  }

  /* Too many requests: say so kindly, wait as long as the server asks, then send the same request again
     (what the patron typed stays pending or in its field meanwhile). A busy desk is not retried: it is shown. */
  function retryLater(response, path, options) {
    var wait = Math.min(3600, Math.max(1, parseInt(response.headers.get("Retry-After"), 10) || 5));
    var notice = waitNotice = format(t["error.rate_limited"], { seconds: String(wait) });
    errorLine.textContent = notice;
    return new Promise(function (resolve) { setTimeout(resolve, wait * 1000); }).then(function () {
      if (errorLine.textContent === notice) errorLine.textContent = "";
      if (waitNotice === notice) waitNotice = null;
      return api(path, options);
    });
  }

  function api(path, options) {
    options = options || {};
    var headers = options.form ? {} : { "Content-Type": "application/json" };
    if (chat) headers.Authorization = "Bearer " + chat.token;
    return fetch("/api/v1" + path, { method: options.method || "GET", headers: headers, body: options.form || options.body })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.status === 429 && !(data.error && data.error.code === "desk_busy")) return retryLater(response, path, options);
          if (!response.ok) {
            var error = new Error((data.error && data.error.message) || t["error.generic"]);
            error.status = response.status;
            error.code = data.error && data.error.code;
            throw error;
          }
          return data;
        });
      });
  }

  /* Staff links become real links (http/https only); everything else stays text. */
  function appendText(parent, text) {
    var pattern = /https?:\/\/[^\s<>"')]+/g, last = 0, match;
    while ((match = pattern.exec(text))) {
      parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var link = document.createElement("a");
      link.href = match[0];
      link.textContent = match[0];
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      parent.appendChild(link);
      last = match.index + match[0].length;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  /* A staff reply's formatting: HTML the server sanitised with an allowlist (never patron text). */
  function appendHtml(parent, html) {
    var holder = document.createElement("template"), box = document.createElement("div");
    holder.innerHTML = html;
    box.className = "formatted";
    box.appendChild(holder.content);
    parent.appendChild(box);
  }

  function fill(item, message) {
    item.textContent = "";
    item.className = message.author + (message.pending ? " pending" : "");
    if (message.author !== "system" && !(message.link && !message.deleted)) {  /* a link card names its author */
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = message.author === "staff" ? (message.author_name || t["msg.librarian"]) : t["msg.you"];
      item.appendChild(who);
    }
    if (message.deleted) {
      item.appendChild(document.createTextNode(t["msg.deleted"]));
      return;
    }
    if (message.author === "staff" && message.link) linkCard(item, message);
    else if (message.author === "staff" && message.html) appendHtml(item, message.html);
    else appendText(item, message.body || "");
    (message.attachments || []).forEach(function (file) {
      if (item.lastChild && item.lastChild.textContent) item.appendChild(document.createElement("br"));
      refdeskAttach(item, chat.id, chat.token, file, format(t["msg.file"], { name: file.name }), fail, follower.changed);
    });
    if (message.edited || message.pending) {
      var note = document.createElement("span");
      note.className = "note";
      note.textContent = " " + (message.pending ? t["msg.pending"] : t["msg.edited"]);
      item.appendChild(note);
    }
  }

  /* The page hosting the widget: a link card to the same site opens there (the chat resumes on the new page),
     anything else in a new tab. */
  function pageOrigin() {
    try { return new URL(page).origin; } catch (e) { return null; }
  }

  function linkCard(item, message) {
    refdeskLinkCard(item, message.link, message.author_name || t["msg.librarian"], t, {
      samePage: function (url) {
        try { return parent !== window && !!pageOrigin() && new URL(url).origin === pageOrigin(); } catch (e) { return false; }
      },
      open: function (url, event) {
        event.preventDefault();
        parent.postMessage({ type: "refdesk:navigate", url: url }, pageOrigin());
      },
      opened: function () {
        if (toldOpened[message.id] || !chat) return;
        toldOpened[message.id] = true;
        fetch("/api/v1/conversations/" + chat.id + "/messages/" + message.id + "/opened", {
          method: "POST", headers: { Authorization: "Bearer " + chat.token }, keepalive: true,
        }).catch(function () { /* only a courtesy to staff */ });
      },
    });
  }

  function render(message) {
    var item = (message.client_id && list.querySelector('li[data-client-id="' + CSS.escape(message.client_id) + '"]')) ||
      list.querySelector('li[data-id="' + CSS.escape(message.id || "") + '"]');
    var added = !item;
    if (added) {
      item = document.createElement("li");
      list.appendChild(item);
    }
    if (message.id) item.dataset.id = message.id;
    if (message.client_id) item.dataset.clientId = message.client_id;
    fill(item, message);
    if (added) follower.added(message.author === "patron"); else follower.changed();
  }

  /* The live region reads each staff or system message once: not again after a reload (the stream replays the
     history then) and never the patron's own words. */
  function announce(message, seq) {
    var key = "refdesk-heard:" + chat.id;
    if (message.author === "patron" || seq <= Number(sessionStorage.getItem(key) || 0)) return;
    sessionStorage.setItem(key, String(seq));
    var who = message.author === "staff" ? (message.author_name || t["msg.librarian"]) + ": " : "";
    var files = (message.attachments || []).map(function (file) { return file.name; }).join(", ");
    follower.announce(who + (message.body || files));
  }

  /* Move focus only when the patron is using the chat: never when a panel merely loads with the library page. */
  function focusIfUsing(id) {
    if (!embeddedInPage || document.hasFocus()) $(id).focus();
  }

  function onStatus(data) {
    $("by-email").hidden = !(mailOn && data.offer_email && data.status === "waiting" && !(chat && chat.offline));
    if (data.status === "active") say(format(t["status.claimed"], { name: data.claimed_by || t["msg.librarian"] }));
    else if (data.status === "closed") say(data.abandoned ? t["status.abandoned"] : t["status.closed"]);
    else say(chat && chat.offline ? t["offline.thanks"] : t["status.waiting"]);
    closed = data.status === "closed";
    screen.update(!closed);
    claimed = data.status !== "waiting";
    placeSuggestions();
    $("composer").hidden = closed;
    $("new-chat").hidden = !closed;
    $("after").hidden = !closed;
    if (closed && source && !data.abandoned) { source.close(); source = null; }  /* abandoned: a return reopens it */
  }

  /* Place in the queue (not history: these events carry no id). */
  function onQueue(place) {
    var text = format(t["status.position"], { position: String(place.position) });
    if (place.estimate_seconds) {
      text += " " + format(t["status.estimate"], { minutes: String(Math.max(1, Math.round(place.estimate_seconds / 60))) });
    }
    say(text);
  }

  function follow() {
    if (source) source.close();
    source = new EventSource("/api/v1/conversations/" + chat.id + "/events?token=" + encodeURIComponent(chat.token));
    var handle = function (kind) {
      return function (event) {
        var data = JSON.parse(event.data);
        if (seen[event.lastEventId]) return;
        seen[event.lastEventId] = true;
        if (kind === "status") onStatus(data); else render(data);
        if (kind === "message") announce(data, Number(event.lastEventId));
      };
    };
    ["message", "message_edited", "message_deleted", "status"].forEach(function (kind) {
      source.addEventListener(kind, handle(kind));
    });
    source.addEventListener("queue", function (event) { onQueue(JSON.parse(event.data)); });
    source.addEventListener("typing", function (event) {
      var who = JSON.parse(event.data).name;
      $("typing").textContent = who ? format(t["status.typing"], { name: who }) : "";
    });
    source.onerror = function () { if (!closed) say(navigator.onLine ? t["status.reconnecting"] : t["status.offline"]); };
    source.onopen = function () { if (statusLine.textContent === t["status.reconnecting"] || statusLine.textContent === t["status.offline"]) say(t["status.waiting"]); };
  }

  /* Send everything still pending, oldest first; the server ignores a client_id it already has. */
  function flush() {
    if (flushing || !pending.length) return;
    if (!chat) return startWithFirstMessage();
    flushing = true;
    var next = pending[0];
    api("/conversations/" + chat.id + "/messages", { method: "POST", body: JSON.stringify({ body: next.body, client_id: next.client_id }) })
      .then(function (message) {
        pending.shift();
        write(pendingKey, pending);
        render(message);
        flushing = false;
        flush();
      })
      .catch(function (error) {
        flushing = false;
        if (error.status && error.status < 500) { pending.shift(); write(pendingKey, pending); fail(error); flush(); }
        else if (!navigator.onLine) say(t["status.offline"]);
      });
  }

  /* A chat's emails go only to its one address (given at the start, or set once): show it, fixed. */
  function lockEmail(address) {
    if (address && chat) { chat.email = address; write(chatKey, chat); }
    var email = chat && chat.email;
    ["by-email", "transcript"].forEach(function (form) {
      var input = $(form === "by-email" ? "by-email-address" : "transcript-email"), hint = $(form + "-hint");
      input.value = email || "";
      input.readOnly = !!email;
      hint.hidden = !email;
      hint.textContent = email ? format(t["email.locked"], { email: email }) : "";
    });
  }

  function enterChat() {
    lockEmail();
    show("chat");
    underWay(true);
    screen.update(!closed);
    say(chat.offline ? t["offline.thanks"] : t["status.waiting"]);
    pending.forEach(function (message) { render({ author: "patron", body: message.body, client_id: message.client_id, pending: true }); });
    follow();
    flush();
    if (!chat.offline && sessionStorage.getItem(askedKey)) lookUp(sessionStorage.getItem(askedKey), 0);
    focusIfUsing("body");
  }

  function begin(extra) {
    var payload = Object.assign({ queue: queue, page_url: page, language: lang }, extra);
    return api("/conversations", { method: "POST", body: JSON.stringify(payload) }).then(function (created) {
      chat = { id: created.id, token: created.token, offline: created.offline, email: created.email };
      write(chatKey, chat);
      return created;
    });
  }

  /* No ghost chats: opening the widget or pressing "Start chat" creates nothing. The chat (and its staff
     thread) is created by the first message, once; then every pending message is posted with its client_id. */
  function enterDraft() {
    show("chat");
    say(t["status.ask"]);
    pending.forEach(function (message) { render({ author: "patron", body: message.body, client_id: message.client_id, pending: true }); });
    flush();
    $("body").focus();
  }

  function ensureChat() {
    if (chat) return Promise.resolve(chat);
    creating = creating || begin({ name: (draft && draft.name) || null }).then(function () {
      sessionStorage.removeItem(draftKey);
      draft = null;
      say(t["status.waiting"]);
      screen.update(true);
      underWay(true);
      follow();
      return chat;
    }, function (error) { creating = null; throw error; });
    return creating;
  }

  function startWithFirstMessage() {
    flushing = true;
    ensureChat().then(function () { flushing = false; flush(); }, function (error) {
      flushing = false;
      if (!error.status || error.status >= 500) { if (!navigator.onLine) say(t["status.offline"]); return; }  /* kept: retried */
      var typed = pending.map(function (message) { return message.body; }).join("\n\n");
      pending = [];
      write(pendingKey, pending);
      list.textContent = "";
      if (error.code !== "desk_busy") { $("body").value = typed; return fail(error); }
      $("offline-name").value = (draft && draft.name) || "";  /* too many waiting: leave a question instead */
      $("offline-question").value = typed;
      show("offline");
      lookUp(typed, 0);
      say(t["status.busy"]);
      $("offline-question").focus();
    });
  }

  function backToStart() {
    sessionStorage.removeItem(draftKey);
    sessionStorage.removeItem(askedKey);
    sessionStorage.removeItem(pendingKey);
    draft = null; pending = [];
    list.textContent = "";
    underWay(false);
    choose();
  }

  $("start").addEventListener("submit", function (event) {
    event.preventDefault();
    draft = { name: $("start-name").value.trim() || null };
    write(draftKey, draft);
    enterDraft();
  });

  $("offline").addEventListener("submit", function (event) {
    event.preventDefault();
    var question = $("offline-question").value;
    var address = $("offline-email");  /* absent without a mail server: the answer comes here */
    begin({ offline: true, email: address ? address.value.trim() : null, name: $("offline-name").value.trim() || null })
      .then(function () {
        keepForReturn();
        pending.push({ body: question, client_id: uuid() });
        write(pendingKey, pending);
        enterChat();
      })
      .catch(fail);
  });

  $("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var box = $("body"), body = box.value;
    if (!body.trim()) return;
    var message = { body: body, client_id: uuid() };
    if (!chat && !list.children.length) {  /* the first question: its answers stay while they wait, reload or not */
      sessionStorage.setItem(askedKey, body);
      lookUp(body, 0);
    }
    pending.push(message);
    write(pendingKey, pending);
    render({ author: "patron", body: body, client_id: message.client_id, pending: true });
    box.value = "";
    if (errorLine.textContent !== waitNotice) errorLine.textContent = "";  /* the wait notice stays until it is over */
    flush();
  });

  /* A compact button opens the native file picker (the input stays hidden); its limits are its description. */
  $("attach-button").addEventListener("click", function () { $("attach").click(); });
  $("attach").addEventListener("change", function () {
    var file = $("attach").files[0];
    if (!file) return;
    var form = new FormData();
    form.append("file", file);
    form.append("client_id", uuid());
    errorLine.textContent = "";
    ensureChat().then(function () { return api("/conversations/" + chat.id + "/files", { method: "POST", form: form }); })
      .then(function (message) { render(message); $("attach").value = ""; })
      .catch(function (error) { $("attach").value = ""; fail(error); });
  });

  $("body").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
  });

  $("by-email").addEventListener("submit", function (event) {
    event.preventDefault();
    api("/conversations/" + chat.id + "/answer-by-email", { method: "POST", body: JSON.stringify({ email: $("by-email-address").value.trim() }) })
      .then(function (updated) {
        chat.offline = true;
        lockEmail(updated.email);
        write(chatKey, chat);
        $("by-email").hidden = true;
        say(t["offline.thanks"]);
      })
      .catch(fail);
  });

  $("rating").addEventListener("submit", function (event) {
    event.preventDefault();
    var score = Number(new FormData($("rating")).get("score"));
    api("/conversations/" + chat.id + "/rating", { method: "POST", body: JSON.stringify({ score: score, comment: $("rating-comment").value || null }) })
      .then(function () { $("rating").hidden = true; $("end-note").textContent = t["end.rated"]; })
      .catch(fail);
  });

  $("transcript").addEventListener("submit", function (event) {
    event.preventDefault();
    api("/conversations/" + chat.id + "/transcript", { method: "POST", body: JSON.stringify({ email: $("transcript-email").value.trim() }) })
      .then(function (sent) { lockEmail(sent.to); $("transcript").hidden = true; $("end-note").textContent = format(t["end.transcript_sent"], { email: sent.to }); })
      .catch(function (error) {
        if (error.code === "transcript_already_sent") { $("transcript").hidden = true; $("end-note").textContent = t["error.transcript_already_sent"]; }
        else fail(error);
      });
  });

  $("end").addEventListener("click", function () {
    if (!chat) return backToStart();  /* nothing was created yet */
    api("/conversations/" + chat.id + "/close", { method: "POST" }).catch(fail);
  });

  /* Forget the chat on this device (it is over): the next question starts a new one. */
  function forgetChat() {
    if (source) { source.close(); source = null; }
    sessionStorage.removeItem(chatKey);
    sessionStorage.removeItem(pendingKey);
    sessionStorage.removeItem(draftKey);
    sessionStorage.removeItem(askedKey);
    sessionStorage.removeItem(shownKey);
    chat = null; pending = []; seen = {}; closed = false; claimed = false; draft = null; shownIds = {};
    screen.update(false);
    underWay(false);
    list.textContent = "";
    follower.reset();
    $("rating").hidden = false;
    $("transcript").hidden = !mailOn;
    forgetReturn();
    $("end-note").textContent = "";
    $("new-chat").hidden = true;
    $("composer").hidden = false;
    $("body").value = "";
    $("offline-question").value = "";
    showSuggestions([]);
  }

  $("new-chat").addEventListener("click", function () {
    forgetChat();
    choose();
  });

  $("close-widget").addEventListener("click", function () { parent.postMessage({ type: "refdesk:close" }, "*"); });
  window.addEventListener("message", function (event) {  /* the loader closed the panel: stop any screen sharing */
    if (event.source === parent && event.data && event.data.type === "refdesk:hidden") screen.stop();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") parent.postMessage({ type: "refdesk:close" }, "*");
  });
  window.addEventListener("online", function () { flush(); if (chat && !closed && (!source || source.readyState === 2)) follow(); });
  window.addEventListener("offline", function () { say(t["status.offline"]); });
  setInterval(flush, 5000);

  /* Published answers (router.faq_usage counts their use, nothing about the patron): looked up while the patron
     types a first question or a question to leave, shown while they wait for a librarian, never once one is
     helping. Reading one hides the chat without ending it (its stream keeps running); "Still ask a librarian"
     brings it back as it was, "This answered my question" ends it politely. */
  function suggestionsWanted() {
    if (view === "offline") return true;
    return view === "chat" && !closed && !claimed && !(chat && chat.offline);
  }

  function placeSuggestions() {
    $("suggestions").hidden = !suggested.length || !suggestionsWanted();
  }

  function report(event, ids) {
    return fetch("/api/v1/faq/usage", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ event: event, articles: ids, queue: queue, lang: lang })
    }).catch(function () { /* a count is never worth an error for the patron */ });
  }

  function showSuggestions(results) {
    suggested = results;
    var box = $("suggestion-list");
    box.textContent = "";
    results.forEach(function (entry) {
      var item = document.createElement("li"), button = document.createElement("button");
      button.type = "button";
      button.textContent = entry.question;
      button.lang = entry.language;
      button.addEventListener("click", function () { openAnswer(entry); });
      item.appendChild(button);
      box.appendChild(item);
    });
    placeSuggestions();
    var key = results.map(function (entry) { return entry.id; }).join(",");
    if (key !== announcedSuggestions) {
      announcedSuggestions = key;
      $("suggest-announce").textContent = !results.length ? "" :
        results.length === 1 ? t["faq.suggested_one"] : format(t["faq.suggested"], { n: String(results.length) });
    }
    if ($("suggestions").hidden) return;
    var fresh = results.map(function (entry) { return entry.id; }).filter(function (id) { return !shownIds[id]; });
    fresh.forEach(function (id) { shownIds[id] = true; });
    write(shownKey, shownIds);  /* counted once per question, a reload included */
    if (fresh.length) report("shown", fresh);
  }

  function lookUp(text, delay) {
    clearTimeout(suggestTimer);
    var words = text.trim().replace(/\s+/g, " ").slice(0, 200);
    if (words.length < 3) { suggestFor = ""; showSuggestions([]); return; }
    suggestTimer = setTimeout(function () {
      if (words === suggestFor) return;
      suggestFor = words;
      var query = "?suggest=1&limit=3&q=" + encodeURIComponent(words) + "&lang=" + encodeURIComponent(lang) + "&queue=" + encodeURIComponent(queue);
      fetch("/api/v1/faq" + query).then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) { if (suggestFor === words) showSuggestions(data.results || []); })
        .catch(function () { /* no suggestions: the chat works as before */ });
    }, delay);
  }

  function openAnswer(entry) {
    if (view !== "faq-answer") returnTo = view;
    openedAnswer = entry;  /* not `opened`: that is the link cards' record */
    var heading = $("faq-question"), body = $("faq-body"), holder = document.createElement("template");
    heading.textContent = entry.question;
    heading.lang = body.lang = entry.language;
    holder.innerHTML = entry.answer;  /* allowlisted HTML, cleaned on the server (web/faq.py) */
    body.textContent = "";
    body.appendChild(holder.content);
    $("faq-link").href = entry.url;
    show("faq-answer");
    heading.focus();
    report("opened", [entry.id]);
  }

  $("body").addEventListener("input", function () {
    if (!chat && !list.children.length) lookUp($("body").value, SUGGEST_DELAY);
  });
  $("offline-question").addEventListener("input", function () { lookUp($("offline-question").value, SUGGEST_DELAY); });

  $("faq-still-ask").addEventListener("click", function () {
    show(returnTo || "chat");
    focusIfUsing(returnTo === "offline" ? "offline-question" : $("composer").hidden ? "log" : "body");
  });

  $("faq-answered").addEventListener("click", function () {
    var entry = openedAnswer;
    var ending = chat && !closed ?
      api("/conversations/" + chat.id + "/close", { method: "POST", body: JSON.stringify({ answered_by_faq: entry.id }) }) :
      Promise.resolve();
    ending.then(function () {
      report("answered", [entry.id]);
      forgetChat();
      show("faq-done");
      say("");
      $("faq-done-heading").focus();
    }).catch(fail);
  });

  $("faq-ask-again").addEventListener("click", function () { choose(); });

  function choose() {
    var opened = sessionStorage.getItem("refdesk-opened:" + queue) ? "" : "&opened=1"; /* once a session: stats */
    sessionStorage.setItem("refdesk-opened:" + queue, "1");
    api("/queues/" + encodeURIComponent(queue) + "/status?lang=" + lang + opened).then(function (status) {
      if (status.open && status.staffed) {
        show("start");
        say(t["status.open"]);
        focusIfUsing("start-name");
      } else {
        show("offline");
        say(status.message || t["status.away"]);
        focusIfUsing("offline-question");
      }
    }).catch(fail);
  }

  if (chat && resume) {
    api("/conversations/" + chat.id).then(function (found) { lockEmail(found.email); enterChat(); }).catch(function (error) {
      sessionStorage.removeItem(chatKey);
      chat = null;
      choose();
      fail(error);
    });
  } else if (chat) enterChat(); else if (pending.length) enterDraft(); else choose();
})();
