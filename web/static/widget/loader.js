/* refdesk widget loader: one <script> tag on any library page.
   Builds a floating button, an embedded panel, or nothing (direct link), and an iframe for the chat,
   so the page's CSS cannot break the chat and the chat cannot break the page.
   __STRINGS__ is replaced by the server with the loader strings of every language. */
(function () {
  "use strict";
  if (window.__refdeskLoaded) return;
  window.__refdeskLoaded = true;
  var STRINGS = __STRINGS__;
  var script = document.currentScript || document.querySelector("script[data-queue][src*='widget.js']");
  if (!script) return;
  var base = new URL(script.src, location.href).origin;
  var opts = script.dataset;
  var queue = opts.queue || "general";
  var lang = pickLanguage(opts.lang);
  var t = STRINGS[lang];
  var storeKey = "refdesk-invited:" + queue, reopenKey = "refdesk-reopen:" + queue;
  var frame = null, panel = null, button = null, invite = null, heard = null, open = false;

  function pickLanguage(wanted) {
    var candidates = [wanted].concat(navigator.languages || [navigator.language]);
    for (var i = 0; i < candidates.length; i++) {
      var code = (candidates[i] || "").slice(0, 2).toLowerCase();
      if (STRINGS[code]) return code;
    }
    return "en";
  }

  function frameUrl() {
    return base + "/widget/frame?queue=" + encodeURIComponent(queue) + "&lang=" + lang +
      "&page=" + encodeURIComponent(location.href);
  }

  function makeFrame(height, embed) {
    var f = document.createElement("iframe");
    f.src = frameUrl() + (embed ? "&embed=" + embed : "");
    f.title = t["frame.title"];
    f.allow = "display-capture";  /* "Show my screen": the browser asks the patron before anything is captured */
    f.setAttribute("style", "border:0;width:100%;height:" + height + ";display:block;background:#fff");
    return f;
  }

  function css() {
    return ":host{all:initial}" +
      "button{font:600 16px/1.2 system-ui,sans-serif;cursor:pointer;border-radius:24px;border:2px solid #fff}" +
      ".launch{position:fixed;right:16px;bottom:16px;z-index:2147483000;background:#1d4f91;color:#fff;padding:12px 18px;" +
      "box-shadow:0 2px 8px rgba(0,0,0,.35)}" +
      ".launch:focus-visible,.invite button:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}" +
      ".panel{position:fixed;right:16px;bottom:76px;z-index:2147483000;width:min(380px,calc(100vw - 32px));" +
      "height:min(560px,calc(100vh - 100px));height:min(560px,calc(100dvh - 100px));box-shadow:0 4px 16px rgba(0,0,0,.35);border-radius:8px;overflow:hidden;background:#fff}" +
      ".invite{position:fixed;right:16px;bottom:76px;z-index:2147483000;max-width:300px;background:#fff;color:#1a1a1a;" +
      "font:15px/1.4 system-ui,sans-serif;padding:14px;border-radius:8px;box-shadow:0 2px 10px rgba(0,0,0,.3)}" +
      ".invite p{margin:0 0 10px}.invite button{padding:8px 12px;margin-right:8px;background:#1d4f91;color:#fff}" +
      ".invite button.secondary{background:#fff;color:#1d4f91;border-color:#1d4f91}" +
      "@media (max-height:500px){.panel{top:8px;bottom:8px;height:auto}.launch[aria-expanded=true]{display:none}}" +
      "@media (prefers-reduced-motion:no-preference){.panel,.invite{transition:opacity .15s}}";
  }

  function buildButton() {
    var host = document.createElement("div");
    host.setAttribute("data-refdesk", "");
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = css();
    root.appendChild(style);
    button = document.createElement("button");
    button.className = "launch";
    button.type = "button";
    button.textContent = t["loader.button"];
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", function () { toggle(!open); });
    panel = document.createElement("div");
    panel.className = "panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", t["frame.title"]);
    heard = document.createElement("div");  /* the invitation goes in here: a live region must exist before it fills */
    heard.setAttribute("role", "status");
    root.appendChild(panel);
    root.appendChild(button);
    root.appendChild(heard);
    document.body.appendChild(host);
    followKeyboard();
    return root;
  }

  /* On phones the on-screen keyboard shrinks only the visual viewport (iOS, Chrome's default): the fixed panel
     would sit behind it. While it is open, fit the panel into what the patron can see. */
  function followKeyboard() {
    var view = window.visualViewport;
    if (!view) return;
    var fit = function () {
      var covered = window.innerHeight - view.height - view.offsetTop;
      var keyboard = covered > 40 && view.scale < 1.01;
      panel.style.bottom = keyboard ? covered + 8 + "px" : "";
      panel.style.height = keyboard ? Math.min(560, view.height - 16) + "px" : "";
    };
    view.addEventListener("resize", fit);
    view.addEventListener("scroll", fit);
  }

  function toggle(show) {
    open = show;
    if (show && !frame) { frame = makeFrame("100%"); panel.appendChild(frame); }
    panel.hidden = !show;
    /* A closed panel hides the "Sharing your screen – Stop" bar: the chat stops sharing instead of going on unseen. */
    if (!show && frame && frame.contentWindow) frame.contentWindow.postMessage({ type: "refdesk:hidden" }, base);
    button.setAttribute("aria-expanded", String(show));
    button.textContent = show ? t["loader.close"] : t["loader.button"];
    dismissInvite();
    if (show) frame.focus(); else button.focus();
  }

  function dismissInvite() {
    if (!invite) return;
    invite.remove();
    invite = null;
  }

  function showInvite(root) {
    if (open || invite || sessionStorage.getItem(storeKey)) return;
    sessionStorage.setItem(storeKey, "1");
    /* Not a dialog and no focus move: the patron may be typing a search. Screen readers hear it (it is added to
       a status region); Escape or "No thanks" dismisses it. */
    invite = document.createElement("div");
    invite.className = "invite";
    var text = document.createElement("p");
    text.textContent = t["loader.invite"];
    var yes = document.createElement("button");
    yes.type = "button";
    yes.textContent = t["loader.invite_open"];
    yes.addEventListener("click", function () { toggle(true); });
    var no = document.createElement("button");
    no.type = "button";
    no.className = "secondary";
    no.textContent = t["loader.dismiss"];
    no.addEventListener("click", function () { dismissInvite(); button.focus(); });
    invite.appendChild(text); invite.appendChild(yes); invite.appendChild(no);
    heard.appendChild(invite);
  }

  function watchForInvitation(root) {
    var urls = opts.inviteUrls ? opts.inviteUrls.split(",") : [];
    var matchesUrl = urls.some(function (part) { return part && location.href.indexOf(part.trim()) !== -1; });
    if (opts.inviteAfter && (!urls.length || matchesUrl)) {
      setTimeout(function () { showInvite(root); }, 1000 * Number(opts.inviteAfter));
    } else if (matchesUrl) {
      showInvite(root);
    }
    if (opts.inviteSelector) {
      var check = function () { if (document.querySelector(opts.inviteSelector)) { showInvite(root); return true; } };
      if (!check()) {
        var observer = new MutationObserver(function () { if (check()) observer.disconnect(); });
        observer.observe(document.body, { childList: true, subtree: true });
      }
    }
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== base || !event.data || typeof event.data.type !== "string") return;
    if (event.data.type === "refdesk:close" && button) toggle(false);
    if (event.data.type === "refdesk:navigate") navigate(event.data.url);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    if (invite) dismissInvite(); else if (open) toggle(false);
  });

  /* A librarian's link card to a page of this site (the chat checked the origin; checked again here): open it in
     this tab and reopen the chat on the new page, where it resumes (its state is in the frame's sessionStorage). */
  function navigate(url) {
    var target;
    try { target = new URL(String(url), location.href); } catch (e) { return; }
    if (target.origin !== location.origin || !/^https?:$/.test(target.protocol)) return;
    if (button) try { sessionStorage.setItem(reopenKey, "1"); } catch (e) { /* private mode: the patron reopens it */ }
    location.assign(target.href);
  }

  /* On a site the queue does not allow, the browser refuses the frame without a word (CSP frame-ancestors):
     the server says which origin was refused and how to allow it, for whoever is setting the widget up. */
  function checkEmbedding() {
    if (!window.fetch) return;
    fetch(base + "/widget/check?queue=" + encodeURIComponent(queue), { credentials: "omit" })
      .then(function (response) { return response.json(); })
      .then(function (answer) { if (!answer.allowed && answer.message) console.error(answer.message); })
      .catch(function () { /* the chat itself reports real trouble */ });
  }

  function start() {
    if (opts.mode !== "link") checkEmbedding();
    if (opts.mode === "panel") {
      var target = document.querySelector(opts.target || "#refdesk");
      if (target) target.appendChild(makeFrame(opts.height || "560px", "panel"));
      return;
    }
    if (opts.mode === "link") return;
    var root = buildButton();
    var reopen = null;
    try { reopen = sessionStorage.getItem(reopenKey); sessionStorage.removeItem(reopenKey); } catch (e) { /* private mode */ }
    if (reopen) toggle(true); else watchForInvitation(root);
  }

  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
