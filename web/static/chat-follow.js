/* Long chats, shared by the widget frame and the plain patron page.
   The message list follows the newest message while the patron is at the bottom; once they scroll up to read,
   new messages no longer pull the list away from what they read: a "New message" button appears instead.
   Screen readers hear each new message once, from a separate live region (the list itself is not live, so
   re-rendering a message, replaying history after a reload or confirming a sent message is not read again). */
(function () {
  "use strict";
  var NEAR = 32; /* px from the bottom that still counts as "at the bottom" (rounding, a half-shown last line) */
  var KEPT = 5; /* announcements kept in the live region; older ones are removed (removals are not read) */

  /* Opened as a page of its own (a direct link, the plain patron page), the chat is the viewport. Where the on-screen
     keyboard shrinks only the visual viewport (iOS, Chrome without interactive-widget), size the chat to what the
     patron can see so the composer stays above the keyboard. In an iframe, the loader fits the panel instead. */
  window.refdeskFitViewport = function (main) {
    var view = window.visualViewport;
    if (!view || window.top !== window.self) return;
    var fit = function () { main.style.height = view.scale < 1.01 ? view.height + "px" : ""; };
    view.addEventListener("resize", fit);
    fit();
  };

  window.refdeskFollow = function (log, button, announcer, afterJump) {
    var pinned = true, height = log.clientHeight;
    function atBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight <= NEAR; }
    function toNewest() {
      log.scrollTop = log.scrollHeight;
      pinned = true;
      button.hidden = true;
    }
    /* The list or the frame changed size (a keyboard opened, an image loaded, an edit grew): stay at the bottom.
       Such a change can also fire a scroll event (scroll anchoring); only the patron's own scrolling unpins. */
    function resized() {
      if (log.clientHeight === height) return false;
      height = log.clientHeight;
      if (pinned) toNewest();
      return true;
    }
    log.addEventListener("scroll", function () {
      if (resized()) return;
      pinned = atBottom();
      if (pinned) button.hidden = true;
    });
    if (window.ResizeObserver) {
      var observer = new ResizeObserver(function () { if (!resized() && pinned) toNewest(); });
      observer.observe(log);
      if (log.firstElementChild) observer.observe(log.firstElementChild);
    }
    button.addEventListener("click", function () {
      toNewest();
      if (afterJump) afterJump();
    });
    return {
      /* After a message was added: follow it when the patron was at the bottom or wrote it, else offer the button. */
      added: function (own) {
        if (pinned || own) toNewest();
        else button.hidden = false;
      },
      /* After a message changed in place: keep the bottom in view if the patron was there. */
      changed: function () { if (pinned) toNewest(); },
      announce: function (text) {
        var line = document.createElement("p");
        line.textContent = text;
        announcer.appendChild(line);
        while (announcer.childElementCount > KEPT) announcer.removeChild(announcer.firstElementChild);
      },
      reset: function () {
        announcer.textContent = "";
        toNewest();
      },
    };
  };
})();
