// Widget snippet generator: rebuild the snippet and the preview as options change; copy to the clipboard.
(function () {
  "use strict";
  const form = document.getElementById("snippet-options");
  const out = document.getElementById("snippet");
  const preview = document.getElementById("preview");
  const status = document.getElementById("copy-status");
  const base = form.dataset.base;
  const queue = form.dataset.queue;

  function attr(name, value) { return value ? " " + name + '="' + value.replace(/"/g, "&quot;") + '"' : ""; }

  function build() {
    const mode = form.mode.value;
    const lang = form.lang.value;
    const invite = form.invite.value.replace(/\D/g, "");
    let snippet;
    if (mode === "link") {
      snippet = '<a href="' + base + "/widget/frame?queue=" + encodeURIComponent(queue) + (lang ? "&lang=" + lang : "") + '">Chat with a librarian</a>';
    } else {
      snippet = (mode === "panel" ? '<div id="refdesk-chat"></div>\n' : "") + '<script src="' + base + '/widget.js"' +
        attr("data-queue", queue) + (mode === "panel" ? attr("data-mode", "panel") + attr("data-target", "#refdesk-chat") : "") +
        attr("data-lang", lang) + attr("data-invite-after", invite) + " async></" + "script>";
    }
    out.textContent = snippet;
    const src = "/widget/frame?queue=" + encodeURIComponent(queue) + (lang ? "&lang=" + lang : "");
    if (preview.getAttribute("src") !== src) preview.setAttribute("src", src);
  }

  async function copy() {
    const text = out.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) { // no clipboard permission (plain http): select the text so Ctrl+C works
      const range = document.createRange();
      range.selectNodeContents(out);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = "Selected: press Ctrl+C (Cmd+C) to copy.";
      return;
    }
    status.textContent = "Snippet copied to the clipboard.";
  }

  form.addEventListener("input", build);
  form.addEventListener("change", build);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  document.getElementById("copy").addEventListener("click", copy);
  build();
})();
