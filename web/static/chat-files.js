/* Files in the chat, shared by the widget frame and the plain patron page.
   A file is fetched with the Authorization header and handed over as a blob: a token in a URL would end up in
   history and logs, so the server accepts ?token= only on the event stream. A picture (PNG, JPEG, GIF, WebP) is
   also shown in the message, so a patron sees the floor plan a librarian sent without saving and opening it; any
   other type (a PDF, an SVG that could carry script) stays a download. */
(function () {
  "use strict";
  var PICTURES = { "image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true };
  var fetched = {}; /* url -> Promise<blob>: a message re-rendered (an edit, a confirmation) fetches nothing again */

  function blobOf(url, token) {
    if (!fetched[url]) {
      fetched[url] = fetch(url, { headers: { Authorization: "Bearer " + token } }).then(function (response) {
        if (!response.ok) throw new Error(response.statusText);
        return response.blob();
      });
      fetched[url].catch(function () { delete fetched[url]; }); /* a failed fetch may be tried again */
    }
    return fetched[url];
  }

  function save(blob, name) {
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
  }

  /* Append `file` to a message: the picture when it is one, then a link that saves it. `shown` runs once the
     picture has its size (the list may need to follow the newest message); `fail` gets a download's error. */
  window.refdeskAttach = function (item, conversationId, token, file, label, fail, shown) {
    var url = "/api/v1/conversations/" + conversationId + "/files/" + file.id;
    if (PICTURES[file.mimetype]) {
      var picture = document.createElement("img");
      picture.className = "picture";
      picture.alt = file.name;
      picture.addEventListener("load", function () { if (shown) shown(); });
      item.appendChild(picture);
      blobOf(url, token).then(function (blob) { picture.src = URL.createObjectURL(blob); })
        .catch(function () { picture.remove(); }); /* the link below still offers the file */
    }
    var link = document.createElement("a");
    link.href = url;
    link.download = file.name;
    link.rel = "noopener";
    link.className = "file";
    link.textContent = label;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      blobOf(url, token).then(function (blob) { save(blob, file.name); }).catch(fail || function () {});
    });
    item.appendChild(link);
    return link;
  };
})();
