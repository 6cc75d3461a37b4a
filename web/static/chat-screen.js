/* "Show my screen" and link cards, shared by the widget frame and the plain patron page.

   Consent first: the browser's own picker chooses what to capture (getDisplayMedia), one frame is drawn to a
   canvas and shown as a preview, and nothing leaves the browser until the patron chooses Send or Keep showing.
   Keep showing looks again every few seconds and sends a picture only when the screen changed (a hash of a tiny
   greyscale copy), until Stop, the browser's own "Stop sharing", or the chat's cap (the server's 409). Capture
   tracks are stopped as soon as they are not needed, so no "sharing" indicator lingers. Where the browser has no
   screen capture (most phones) the button attaches a screenshot from the file picker instead, through the same
   preview. A picture is uploaded as a patron file with `screen=1`: same size limit, type check and retention. */
(function () {
  "use strict";
  var MAX_SIDE = 1600;  /* wide enough to read a catalogue screen, small enough for the upload limit */
  var HASH_W = 32, HASH_H = 18;

  /* options: root element ids as in templates/_screen.html; t (strings); upload(blob, name) -> Promise;
     fail(error); announce(text); everySeconds; maxBytes (the server's upload limit). Returns { update(visible) }. */
  window.refdeskScreen = function (options) {
    var $ = function (id) { return document.getElementById(id); };
    if (!$("screen")) return { update: function () {}, stop: function () {} };  /* REFDESK_SCREEN_FRAMES_PER_CHAT=0: not offered */
    var t = options.t, box = $("screen"), showButton = $("screen-show"), hint = $("screen-hint"), file = $("screen-file");
    var preview = $("screen-preview"), picture = $("screen-picture"), bar = $("screen-bar");
    var canCapture = !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    var stream = null, video = null, shot = null, timer = null, lastHash = null, busy = false, shown = false;
    var everyMs = Math.max(200, 1000 * (options.everySeconds || 3));
    var maxBytes = options.maxBytes || 5 * 1024 * 1024;  /* REFDESK_MAX_UPLOAD_BYTES */

    if (!canCapture) {
      showButton.textContent = t["screen.attach"];
      showButton.setAttribute("aria-describedby", "screen-hint");
      hint.hidden = false;
    }

    function stopTracks() {
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
      if (video) video.srcObject = null;
      video = null;
    }

    function reset() {
      clearInterval(timer);
      timer = null;
      stopTracks();
      preview.hidden = true;
      bar.hidden = true;
      bar.removeAttribute("data-checked");
      if (picture.src) URL.revokeObjectURL(picture.src);
      picture.removeAttribute("src");
      shot = null;
      lastHash = null;
      showButton.hidden = !shown;
      box.hidden = !shown || canCapture;  /* without capture the box holds the hint */
    }

    /* A tiny greyscale copy, 16 levels per cell: noise and cursor blinks do not count as a change. */
    function hashOf(source, width, height) {
      var small = document.createElement("canvas");
      small.width = HASH_W;
      small.height = HASH_H;
      var context = small.getContext("2d", { willReadFrequently: true });
      context.drawImage(source, 0, 0, width, height, 0, 0, HASH_W, HASH_H);
      var pixels = context.getImageData(0, 0, HASH_W, HASH_H).data, cells = [];
      for (var i = 0; i < pixels.length; i += 4) {
        cells.push(((pixels[i] * 299 + pixels[i + 1] * 587 + pixels[i + 2] * 114) / 1000) >> 4);
      }
      return cells.join(",");
    }

    /* One frame of `source` (a playing video or a decoded image): a PNG blob (JPEG when the PNG is large). */
    function grab(source, width, height) {
      var scale = Math.min(1, MAX_SIDE / Math.max(width, height, 1));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
      var hash = hashOf(source, width, height);
      function jpeg(quality) {  /* smaller until it fits the server's limit; the last try goes up regardless */
        return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); }).then(function (blob) {
          if (blob && blob.size > maxBytes && quality > 0.4) return jpeg(quality - 0.2);
          return { blob: blob, hash: hash, name: "screen.jpg" };
        });
      }
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/png"); }).then(function (png) {
        if (png && png.size <= Math.min(2 * 1024 * 1024, maxBytes)) return { blob: png, hash: hash, name: "screen.png" };
        return jpeg(0.85);
      });
    }

    function grabVideo() { return grab(video, video.videoWidth, video.videoHeight); }

    function showPreview(taken, keepPossible) {
      shot = taken;
      if (picture.src) URL.revokeObjectURL(picture.src);
      picture.onload = function () { preview.scrollIntoView({ block: "nearest" }); };  /* its buttons in view */
      picture.src = URL.createObjectURL(taken.blob);
      $("screen-keep").hidden = !keepPossible;
      showButton.hidden = true;
      box.hidden = false;
      preview.hidden = false;
      $("screen-send").focus();
    }

    function named(taken) {
      var now = new Date(), pad = function (n) { return String(n).padStart(2, "0"); };
      var stem = "screen-" + pad(now.getHours()) + pad(now.getMinutes()) + pad(now.getSeconds());
      return stem + taken.name.slice(taken.name.lastIndexOf("."));
    }

    function send(taken) {
      return options.upload(taken.blob, named(taken)).then(function () { lastHash = taken.hash; });
    }

    function capture() {
      return navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }).then(function (captured) {
        stream = captured;
        /* The browser's own "Stop sharing" ends the track: end Keep showing (or the preview) with it. */
        captured.getVideoTracks()[0].addEventListener("ended", function () {
          if (timer) options.announce(t["screen.stopped"]);
          reset();
        });
        video = document.createElement("video");
        video.muted = true;
        video.playsInline = true;
        video.srcObject = captured;
        return video.play().then(function () {
          /* Wait for a decoded frame (a still screen may send no more, hence the time limit), not a blank first one. */
          return new Promise(function (resolve) {
            if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(function () { resolve(); });
            else if (!video.videoWidth) video.addEventListener("loadeddata", function () { resolve(); }, { once: true });
            else resolve();
            setTimeout(resolve, 500);
          });
        });
      }).then(grabVideo);
    }

    showButton.addEventListener("click", function () {
      if (busy) return;
      if (!canCapture) { file.click(); return; }
      busy = true;
      capture().then(function (taken) { busy = false; showPreview(taken, true); }, function (error) {
        busy = false;
        reset();
        if (!error || error.name !== "NotAllowedError") options.fail({ message: t["screen.failed"] });  /* a refusal is the patron's choice */
      });
    });

    file.addEventListener("change", function () {
      var chosen = file.files[0];
      file.value = "";
      if (!chosen) return;
      var image = new Image();
      var url = URL.createObjectURL(chosen);
      image.onload = function () {
        URL.revokeObjectURL(url);
        /* The file itself is sent as chosen (the server checks its type); the hash is not needed. */
        showPreview({ blob: chosen, hash: null, name: chosen.type === "image/jpeg" ? "screen.jpg" : "screen.png" }, false);
      };
      image.onerror = function () { URL.revokeObjectURL(url); options.fail({ code: "unsupported_file" }); };
      image.src = url;
    });

    $("screen-send").addEventListener("click", function () {
      var taken = shot;
      reset();
      showButton.focus();
      if (taken) send(taken).catch(options.fail);
    });

    $("screen-cancel").addEventListener("click", function () {
      reset();
      showButton.focus();
    });

    function look() {
      if (!video || busy) return;
      busy = true;
      grabVideo().then(function (taken) {
        bar.dataset.checked = String(Number(bar.dataset.checked || 0) + 1);  /* how often it looked (tests) */
        if (taken.hash === lastHash) return null;
        return send(taken);
      }).then(function () { busy = false; }, function (error) {
        busy = false;
        stopSharing();
        options.fail(error);
      });
    }

    function stopSharing() {
      reset();
      showButton.focus();
    }

    $("screen-keep").addEventListener("click", function () {
      var taken = shot;
      preview.hidden = true;
      if (picture.src) URL.revokeObjectURL(picture.src);
      picture.removeAttribute("src");
      box.hidden = false;
      bar.hidden = false;
      $("screen-stop").focus();
      options.announce(t["screen.sharing"]);
      busy = true;
      send(taken).then(function () {
        busy = false;
        if (stream) timer = setInterval(look, everyMs);
      }, function (error) { busy = false; stopSharing(); options.fail(error); });
    });

    $("screen-stop").addEventListener("click", function () {
      options.announce(t["screen.stopped"]);
      stopSharing();
    });

    window.addEventListener("pagehide", reset);

    return {
      stop: function () { if (!preview.hidden || !bar.hidden) reset(); },
      /* Offered only in a chat that exists and is not over; anything under way stops when the chat ends. */
      update: function (visible) {
        if (shown && !visible) reset();
        shown = visible;
        if (preview.hidden && bar.hidden) { showButton.hidden = !visible; box.hidden = !visible || canCapture; }
      },
    };
  };

  /* A librarian's link card (`!show URL text`): "Ada wants to show you: TEXT" and an Open link. `samePage(url)`
     says whether the URL is on the site hosting the chat; `open(url, event)` may take over the click (the
     widget navigates the library page itself); `opened()` tells staff. */
  window.refdeskLinkCard = function (item, link, name, t, handlers) {
    var card = document.createElement("div");
    card.className = "card";
    var words = document.createElement("p");
    words.textContent = t["link.wants"].replace("{name}", name) + (link.text ? " " + link.text : "");
    card.appendChild(words);
    var open = document.createElement("a");
    open.className = "open";
    open.href = link.url;
    open.textContent = t["link.open"];
    var here = handlers.samePage(link.url);
    if (!here) {
      open.target = "_blank";
      open.rel = "noopener";
      var note = document.createElement("span");
      note.className = "visually-hidden";
      note.textContent = " " + t["link.new_tab"];
      open.appendChild(note);
    }
    open.addEventListener("click", function (event) {
      handlers.opened();
      if (here) handlers.open(link.url, event);
    });
    /* A middle click opens a new tab without a click event: staff hear of that opening too. */
    open.addEventListener("auxclick", function (event) { if (event.button === 1) handlers.opened(); });
    card.appendChild(open);
    item.appendChild(card);
  };
})();
