// Live desk: re-read /admin/desk.json every 5 s and redraw the tables in place (no reload, focus kept).
(function () {
  "use strict";
  const root = document.getElementById("desk");
  const stamp = document.getElementById("desk-updated");
  const announce = document.getElementById("desk-changes");
  // What the server drew: "slug:waiting/active,…", so the first poll already announces a change.
  let lastCounts = Array.from(root.querySelectorAll("[data-count]"), (badge) => {
    const numbers = badge.textContent.match(/\d+/g) || ["0", "0"];
    return badge.dataset.count + ":" + numbers[0] + "/" + numbers[1];
  }).join(",");
  if (!root) return;

  function duration(s) {
    if (s >= 3600) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    if (s >= 60) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return s + " s";
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function draw(queues) {
    const counts = queues.map((q) => q.slug + ":" + q.waiting + "/" + q.active).join(",");
    if (counts !== lastCounts) { // only changes are read out, not every poll
      announce.textContent = queues.map((q) => q.name + ": " + q.waiting + " waiting, " + q.active + " active").join("; ");
    }
    lastCounts = counts;
    for (const queue of queues) {
      const body = root.querySelector('tbody[data-queue="' + CSS.escape(queue.slug) + '"]');
      const badge = root.querySelector('[data-count="' + CSS.escape(queue.slug) + '"]');
      if (!body) { window.location.reload(); return; } // a queue was added: draw it server-side once
      badge.textContent = queue.waiting + " waiting, " + queue.active + " active";
      body.replaceChildren();
      for (const chat of queue.chats) {
        const row = document.createElement("tr");
        cell(row, chat.id);
        cell(row, chat.patron);
        cell(row, chat.status + (chat.offline ? " (offline question)" : ""));
        cell(row, chat.claimed_by || "nobody yet");
        cell(row, duration(chat.waited));
        body.appendChild(row);
      }
      if (!queue.chats.length) {
        const row = document.createElement("tr");
        const td = document.createElement("td");
        td.colSpan = 5;
        td.textContent = "No open chats.";
        row.appendChild(td);
        body.appendChild(row);
      }
    }
  }

  async function refresh() {
    try {
      const response = await fetch(root.dataset.source, { headers: { Accept: "application/json" } });
      if (response.redirected || !response.ok) throw new Error("HTTP " + response.status);
      draw((await response.json()).queues);
      stamp.textContent = "Last updated " + new Date().toLocaleTimeString() + ".";
    } catch (error) {
      stamp.textContent = "Could not update (" + error.message + "); retrying.";
    }
  }

  setInterval(refresh, 5000);
})();
