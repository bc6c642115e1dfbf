// AkkaMail dashboard, storage panel: what the service holds, in total and for the users holding the most
// (GET /api/admin/storage, admin key only; loaded on demand, so that a user's dashboard never asks for what it may not
// read). Uses api() and $() from app.js, loaded before it.
"use strict";

(() => {
  const bytes = (n) => {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  };
  const row = (values) => {
    const tr = document.createElement("tr");
    for (const v of values) tr.appendChild(document.createElement("td")).textContent = v;
    return tr;
  };
  const figures = (label, f) => row([label, String(f.emails), bytes(f.bodyBytesHeld), bytes(f.bodyBytesRemoved),
    bytes(f.envelopeBytes), bytes(f.bytesHeld)]);

  async function loadStorage() {
    const r = await api("/api/admin/storage?limit=10").catch(() => null);
    if (!r?.ok) {
      $("storage-summary").textContent = r?.status === 403
        ? "Only the admin key reads the storage figures." : "The service did not answer.";
      $("storage-table").hidden = true;
      return;
    }
    const s = r.body;
    $("storage-summary").textContent = `Measured ${new Date(s.measuredAt).toLocaleTimeString()}; on disk: ` +
      (s.disk.map((d) => `${d.part} ${bytes(d.bytes)}`).join(", ") || "—") +
      `. ${s.users.length} of ${s.userCount} users with emails shown.`;
    $("storage-rows").replaceChildren(figures("all users", s.totals), ...s.users.map((u) => figures(u.userId, u.storage)));
    $("storage-table").hidden = false;
  }
  $("storage-refresh").addEventListener("click", loadStorage);
})();
