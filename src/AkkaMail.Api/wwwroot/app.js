// AkkaMail dashboard: plain browser JavaScript, no build step. Live updates come from the SignalR hub
// (/hubs/emails, message "emailStatus"); details and catch-up come from the REST API.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "akkamail.apiKey";
const emails = new Map();   // id -> { id, to, subject, status, at, version }
const transitions = [];     // [time, counter] of live status changes, for the per-minute counters
const liveStatus = new Map(); // id -> [status, version] last heard live (a message may come through two groups)
let connection = null;

const apiKey = () => sessionStorage.getItem(KEY);

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${apiKey()}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  return { ok: response.ok, status: response.status, body };
}

// ---- sign in / out ----------------------------------------------------------------------------------
$("sign-in-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $("api-key").value.trim());
  await start();
});

$("sign-out").addEventListener("click", async () => {
  sessionStorage.removeItem(KEY);
  if (connection) await connection.stop();
  location.reload();
});

async function start() {
  $("sign-in-error").textContent = "";
  // The recent emails (GET /api/emails, where the server offers it) tell at once whether the key is good.
  const recent = await api("/api/emails?limit=50").catch(() => null);
  if (recent?.status === 401) {
    sessionStorage.removeItem(KEY);
    $("sign-in-error").textContent = "That API key was not accepted.";
    return;
  }
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = "signed in";
  await connect();
  showRecent(recent);
  await loadTemplates().catch(() => {});
  loadWebhooks();
  loadKeys().catch(() => {});
  loadSuppressions(false).catch(() => {});
}

// ---- live updates -----------------------------------------------------------------------------------
async function connect() {
  connection = new signalR.HubConnectionBuilder()
    .withUrl("/hubs/emails", { accessTokenFactory: apiKey })
    .withAutomaticReconnect()
    .configureLogging(signalR.LogLevel.Warning)
    .build();
  connection.on("emailStatus", onStatus);
  connection.onreconnecting(() => setConnected(false));
  connection.onreconnected(async () => {
    setConnected(true);
    await connection.invoke("SubscribeAll");
    // Catch up on what changed while we were away, through the REST API.
    await Promise.all([...emails.keys()].map(refresh));
  });
  connection.onclose(() => setConnected(false));
  await connection.start();
  await connection.invoke("SubscribeAll");
  setConnected(true);
}

function setConnected(on) {
  $("connection").textContent = on ? "live" : "offline";
  $("connection").className = `pill ${on ? "on" : "off"}`;
}

function onStatus(m) {
  count(m);
  const known = emails.get(m.emailId);
  if (known && known.version > m.version) return; // an older change arriving late
  upsert({ ...(known || {}), id: m.emailId, status: m.status, at: m.at, version: m.version });
  if (!known) setTimeout(() => refresh(m.emailId, 3), 300); // heard of it live: fetch its subject and recipients
  if ($("details-id").textContent === m.emailId) showDetails(m.emailId);
}

// ---- the table --------------------------------------------------------------------------------------
function showRecent(r) {
  // Without a list endpoint (or on error) the table fills from this session's live events.
  const items = r?.ok ? (Array.isArray(r.body) ? r.body : r.body?.items || []) : [];
  for (const v of items.slice().reverse()) upsert(fromView(v));
}

async function refresh(id, tries = 1) {
  const r = await api(`/api/emails/${encodeURIComponent(id)}`);
  if (r.ok) upsert(fromView(r.body));
  // A push can come before the read model has the email (it is written just after): try again shortly.
  else if (r.status === 404 && tries > 1) setTimeout(() => refresh(id, tries - 1), 500);
}

const fromView = (v) => ({ id: v.id, to: (v.to || []).join(", "), subject: v.subject, status: v.status, at: v.updatedAt, version: v.version });

function upsert(e) {
  const known = emails.get(e.id);
  if (known && known.version > e.version) e = { id: e.id, to: e.to, subject: e.subject }; // keep the newer status
  const merged = { ...(known || {}), ...Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) };
  emails.set(e.id, merged);
  let row = document.querySelector(`tr[data-id="${CSS.escape(e.id)}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.id = e.id;
    for (const cls of ["id", "to", "subject", "status", "at"]) row.appendChild(document.createElement("td")).className = cls;
    row.querySelector(".status").appendChild(document.createElement("span"));
    opensEmail(row, e.id);
    $("emails").prepend(row);
    while ($("emails").rows.length > 200) $("emails").lastElementChild.remove();
  }
  row.querySelector(".id").textContent = merged.id.slice(0, 12) + "…";
  row.querySelector(".id").title = merged.id;
  row.querySelector(".to").textContent = merged.to || "";
  row.querySelector(".subject").textContent = merged.subject || "";
  const status = row.querySelector(".status");
  if (status.dataset.status !== merged.status) {
    status.dataset.status = merged.status;
    status.firstChild.textContent = merged.status;
    row.classList.remove("flash");
    void row.offsetWidth; // restart the highlight
    row.classList.add("flash");
  }
  row.querySelector(".at").textContent = merged.at ? new Date(merged.at).toLocaleTimeString() : "";
  $("empty").hidden = true;
}

// ---- counters: emails that reached a status in the last 60 seconds -----------------------------------
const COUNTER = { queued: "accepted", scheduled: "accepted", sent: "sent", delivered: "delivered", failed: "failed", partially_failed: "failed" };

function count(m) {
  const [previous, version] = liveStatus.get(m.emailId) || [undefined, -1];
  if (m.version <= version) return;
  liveStatus.set(m.emailId, [m.status, m.version]);
  if (m.status === previous || !COUNTER[m.status]) return;
  if (COUNTER[m.status] === "accepted" && previous !== undefined) return;
  transitions.push([Date.now(), COUNTER[m.status]]);
  renderCounters();
}

function renderCounters() {
  const since = Date.now() - 60_000;
  while (transitions.length && transitions[0][0] < since) transitions.shift();
  const counts = { accepted: 0, sent: 0, delivered: 0, failed: 0 };
  for (const [, name] of transitions) counts[name]++;
  for (const [name, n] of Object.entries(counts)) $(`count-${name}`).textContent = n;
}
setInterval(renderCounters, 5000);

// ---- compose ----------------------------------------------------------------------------------------
$("compose").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const email = {
    from: f.get("from"),
    to: f.get("to").split(",").map((s) => s.trim()).filter(Boolean),
    subject: f.get("subject"),
    text: f.get("text"),
  };
  const result = $("compose-result");
  result.className = "";
  result.textContent = "Sending…";
  const r = await api("/api/emails", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(email) });
  if (r.status === 202) {
    result.textContent = `Accepted: ${r.body.id}`;
    result.dataset.id = r.body.id;
    upsert({ id: r.body.id, to: email.to.join(", "), subject: email.subject, status: r.body.status, version: 0 });
  } else {
    result.className = "error";
    const errors = r.body?.errors ? Object.entries(r.body.errors).map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ") : "";
    result.textContent = `${r.body?.title || `Error ${r.status}`}${errors ? ` — ${errors}` : r.body?.detail ? ` — ${r.body.detail}` : ""}`;
  }
});

// ---- from a template ----------------------------------------------------------------------------------
async function loadTemplates() {
  const r = await api("/api/templates?limit=500");
  const select = $("template-name");
  const items = r.ok ? r.body.items : [];
  select.replaceChildren(...items.map((t) => {
    const o = document.createElement("option");
    o.value = t.name;
    o.textContent = `${t.name} (v${t.version})`;
    return o;
  }));
  $("templates-card").dataset.count = String(items.length);
}

function problemText(r) {
  const errors = r.body?.errors ? Object.entries(r.body.errors).map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ") : "";
  return `${r.body?.title || `Error ${r.status}`}${errors ? ` — ${errors}` : r.body?.detail ? ` — ${r.body.detail}` : ""}`;
}

/** The variables textarea as an object, or null (and the reason shown) when it is not a JSON object. */
function templateVariables() {
  try {
    const v = JSON.parse($("template-send").elements.variables.value || "{}");
    if (v && typeof v === "object" && !Array.isArray(v)) return v;
  } catch { /* shown below */ }
  const result = $("template-result");
  result.className = "error";
  result.textContent = "Variables must be a JSON object, e.g. {\"name\": \"Ann\"}";
  return null;
}

$("template-preview").addEventListener("click", async () => {
  const variables = templateVariables();
  if (!variables) return;
  const name = $("template-name").value;
  const result = $("template-result");
  result.className = "";
  result.textContent = "Rendering…";
  const r = await api(`/api/templates/${encodeURIComponent(name)}/render`,
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ variables }) });
  if (!r.ok) {
    result.className = "error";
    result.textContent = problemText(r);
    $("template-rendered").hidden = true;
    return;
  }
  result.textContent = `Preview of ${r.body.template} v${r.body.version}`;
  $("rendered-subject").textContent = r.body.subject;
  $("rendered-text").textContent = r.body.text ?? "";
  // The html in a sandboxed frame: no script runs, nothing reaches this page.
  $("rendered-html").srcdoc = r.body.html ?? "";
  $("template-rendered").hidden = false;
});

$("template-send").addEventListener("submit", async (e) => {
  e.preventDefault();
  const variables = templateVariables();
  if (!variables) return;
  const f = new FormData(e.target);
  const email = {
    from: f.get("from"),
    to: f.get("to").split(",").map((s) => s.trim()).filter(Boolean),
    template: f.get("template"),
    variables,
  };
  const result = $("template-result");
  result.className = "";
  result.textContent = "Sending…";
  const r = await api("/api/emails", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(email) });
  if (r.status === 202) {
    result.textContent = `Accepted: ${r.body.id} (${r.body.template} v${r.body.templateVersion})`;
    result.dataset.id = r.body.id;
    upsert({ id: r.body.id, to: email.to.join(", "), subject: `${r.body.template} v${r.body.templateVersion}`, status: r.body.status, version: 0 });
    refresh(r.body.id, 3); // its rendered subject
  } else {
    result.className = "error";
    result.textContent = problemText(r);
  }
});

// ---- details: summary, each recipient's fate, timeline, and the message in a sandboxed frame ----------------
const when = (t) => (t ? new Date(t).toLocaleString() : "");

async function showDetails(id) {
  const r = await api(`/api/emails/${encodeURIComponent(id)}`);
  if (!r.ok) return;
  const e = r.body;
  const opening = $("details").hidden || $("details-id").textContent !== id;
  $("details").hidden = false;
  $("details-id").textContent = id;
  const summary = [["Status", e.status], ["From", e.from], ["To", e.to.join(", ")], ["Cc", e.cc.join(", ")],
    ["Subject", e.subject], ["Tags", e.tags.join(", ")], ["Created", when(e.createdAt)], ["Provider id", e.providerMessageId],
    ["Failure", e.failureReason]].filter(([, v]) => v);
  $("details-summary").replaceChildren(...summary.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
  $("details-recipients").replaceChildren(...e.recipients.map((p) => cells(document.createElement("tr"), [
    p.address, p.status, when(p.statusAt), [p.code, p.reason].filter(Boolean).join(" "), String(p.opens), String(p.clicks),
  ])));
  $("timeline").replaceChildren(...e.timeline.map((t) => {
    const li = document.createElement("li");
    const time = li.appendChild(document.createElement("time"));
    time.dateTime = t.at;
    time.textContent = new Date(t.at).toLocaleTimeString();
    li.appendChild(document.createElement("strong")).textContent = t.type;
    if (t.recipient) li.append(` ${t.recipient}`);
    if (t.detail) li.append(` — ${t.detail}`);
    return li;
  }));
  if (opening) {
    await showPreview(id);
    $("details").focus();
  }
}

async function showPreview(id) {
  const r = await api(`/api/emails/${encodeURIComponent(id)}/content`);
  const frame = $("preview-html"), text = $("preview-text"), note = $("preview-note");
  frame.hidden = true; text.hidden = true;
  if (!r.ok) { note.textContent = r.status === 503 ? "The message could not be read just now; reopen the email." : "No message."; return; }
  const c = r.body;
  const attachments = c.attachments.length ? ` Attachments: ${c.attachments.map((a) => a.fileName).join(", ")}.` : "";
  if (c.bodiesRemoved) {
    note.textContent = "Retention removed this message's bodies and attachments; the envelope, recipients and timeline remain.";
  } else if (c.html) {
    // sandbox="" (no allow-scripts, no same origin): the message's scripts never run and it cannot reach this page.
    frame.srcdoc = c.html;
    frame.hidden = false;
    note.textContent = "HTML part, as sent." + attachments;
  } else if (c.text) {
    text.textContent = c.text;
    text.hidden = false;
    note.textContent = "Text part (the message has no HTML)." + attachments;
  } else {
    note.textContent = "The message has no body." + attachments;
  }
}
$("details-close").addEventListener("click", () => { $("details").hidden = true; $("details-id").textContent = ""; });

/** A row that opens an email: by click, and by Enter or Space for the keyboard. */
function opensEmail(row, id) {
  row.tabIndex = 0;
  row.addEventListener("click", () => showDetails(id));
  row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showDetails(id); } });
}

// ---- search: GET /api/emails?q= one page at a time (the cursor), so it stays cheap at any size ----------------
let searchCursor = null;

async function search(more) {
  const q = $("search-q").value.trim(), status = $("search-status").value;
  const params = new URLSearchParams({ limit: "25" });
  if (q) params.set("q", q);
  if (status) params.set("status", status);
  if (more && searchCursor) params.set("cursor", searchCursor);
  const r = await api(`/api/emails?${params}`);
  const result = $("search-result");
  result.className = r.ok ? "hint" : "error";
  if (!r.ok) { result.textContent = problemText(r); return; }
  const rows = r.body.items.map((v) => {
    const row = cells(document.createElement("tr"), [when(v.createdAt), v.to.join(", "), v.subject, ""]);
    row.dataset.id = v.id;
    const status = row.lastElementChild;
    status.className = "status";
    status.dataset.status = v.status;
    status.appendChild(document.createElement("span")).textContent = v.status;
    opensEmail(row, v.id);
    return row;
  });
  if (more) $("search-items").append(...rows); else $("search-items").replaceChildren(...rows);
  searchCursor = r.body.nextCursor;
  $("search-more").hidden = !searchCursor;
  const shown = $("search-items").rows.length;
  result.textContent = shown === 0 ? "No email matches." : `${shown} shown${searchCursor ? ", more on the next page" : ""}.`;
}
$("search-form").addEventListener("submit", (e) => { e.preventDefault(); search(false); });
$("search-more").addEventListener("click", () => search(true));

// ---- suppressions: list (paged) and lift ----------------------------------------------------------------
let suppressionsCursor = null;

async function loadSuppressions(more) {
  const r = await api(`/api/suppressions?limit=50${more && suppressionsCursor ? `&cursor=${encodeURIComponent(suppressionsCursor)}` : ""}`);
  if (!r.ok) return;
  const rows = r.body.items.map((s) => {
    const row = cells(document.createElement("tr"), [s.address, s.reason, when(s.createdAt), ""]);
    const lift = row.lastElementChild.appendChild(document.createElement("button"));
    lift.type = "button";
    lift.textContent = "Lift";
    lift.setAttribute("aria-label", `Lift the suppression of ${s.address}`);
    lift.addEventListener("click", () => liftSuppression(s.address, row));
    return row;
  });
  if (more) $("suppression-items").append(...rows); else $("suppression-items").replaceChildren(...rows);
  suppressionsCursor = r.body.nextCursor;
  $("suppressions-more").hidden = !suppressionsCursor;
  if (!more && rows.length === 0) $("suppressions-result").textContent = "No address is suppressed.";
}

async function liftSuppression(address, row) {
  const r = await api(`/api/suppressions/${encodeURIComponent(address)}`, { method: "DELETE" });
  const result = $("suppressions-result");
  result.className = r.ok ? "hint" : "error";
  result.textContent = r.ok ? `Lifted: ${address} may be sent to again.` : problemText(r);
  if (r.ok) row.remove();
}
$("suppressions-refresh").addEventListener("click", () => loadSuppressions(false));
$("suppressions-more").addEventListener("click", () => loadSuppressions(true));

// ---- API keys of the signed-in user; (admin) users ---------------------------------------------------------
let me = null;

async function loadKeys() {
  const r = await api("/api/users/me");
  // The deployment's admin key (data/admin.key) is no stored user: it has no keys to list, and may create users.
  if (r.status === 404) { $("keys").hidden = true; showUsers(); $("who").textContent = "admin key"; return; }
  if (!r.ok) return;
  me = r.body;
  $("who").textContent = `${me.name}${me.isAdmin ? " (admin)" : ""}`;
  if (me.isAdmin) showUsers(); else $("users").hidden = true;
  $("key-items").replaceChildren(...me.keys.map((k) => {
    const row = cells(document.createElement("tr"), [k.keyId, when(k.createdAt), k.revokedAt ? `revoked ${when(k.revokedAt)}` : "active", ""]);
    row.dataset.keyId = k.keyId;
    if (!k.revokedAt) {
      const revoke = row.lastElementChild.appendChild(document.createElement("button"));
      revoke.type = "button";
      revoke.textContent = "Revoke";
      revoke.setAttribute("aria-label", `Revoke key ${k.keyId}`);
      revoke.addEventListener("click", () => revokeKey(k.keyId));
    }
    return row;
  }));
}

async function revokeKey(keyId) {
  if (!me) return;
  const r = await api(`/api/users/${encodeURIComponent(me.id)}/keys/${encodeURIComponent(keyId)}`, { method: "DELETE" });
  // Revoking the key this page signed in with ends the session.
  if (r.ok) await loadKeys().catch(() => {});
}

$("key-create").addEventListener("click", async () => {
  if (!me) return;
  const r = await api(`/api/users/${encodeURIComponent(me.id)}/keys`, { method: "POST" });
  if (!r.ok) return;
  $("key-created").hidden = false;
  $("key-created").dataset.keyId = r.body.keyId;
  $("key-created-value").value = r.body.apiKey;
  $("key-created-value").focus();
  $("key-created-value").select();
  await loadKeys();
});
$("keys-refresh").addEventListener("click", loadKeys);

// Only an admin key sees the panel, so a user's dashboard never asks for the list it may not read.
let usersCursor = null;

function showUsers() {
  const first = $("users").hidden;
  $("users").hidden = false;
  if (first) loadUsers(false).catch(() => {});
}

async function loadUsers(more) {
  const r = await api(`/api/users?limit=50${more && usersCursor ? `&after=${encodeURIComponent(usersCursor)}` : ""}`);
  const listed = $("users-listed");
  listed.className = r.ok ? "hint" : "error";
  if (!r.ok) { listed.textContent = problemText(r); return; }
  const rows = r.body.items.map((u) => {
    const row = cells(document.createElement("tr"), [
      `${u.name}${u.isAdmin ? " (admin)" : ""}`, u.id, u.defaultFrom, when(u.createdAt), String(u.activeKeys),
    ]);
    row.dataset.userId = u.id;
    return row;
  });
  if (more) $("user-items").append(...rows); else $("user-items").replaceChildren(...rows);
  usersCursor = r.body.nextCursor;
  $("users-more").hidden = !usersCursor;
  const shown = $("user-items").rows.length;
  listed.textContent = shown === 0 ? "No user yet." : `${shown} shown${usersCursor ? ", more on the next page" : ""}.`;
}
$("users-refresh").addEventListener("click", () => loadUsers(false));
$("users-more").addEventListener("click", () => loadUsers(true));

$("user-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const body = { name: f.get("name"), defaultFrom: f.get("defaultFrom") || null };
  const r = await api("/api/users", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const result = $("user-result");
  result.className = r.ok ? "hint" : "error";
  if (!r.ok) { result.textContent = problemText(r); return; }
  result.textContent = "";
  $("user-created").hidden = false;
  $("user-created-id").textContent = r.body.id;
  $("user-created-key").value = r.body.apiKey;
  $("user-created-key").focus();
  e.target.reset();
  // Ids grow with time, so the new user sorts last: when the list shown reaches the end, the page after its last row
  // holds the new user; otherwise it shows when paging gets there.
  if (!usersCursor) {
    const last = $("user-items").lastElementChild;
    usersCursor = last ? last.dataset.userId : null;
    await loadUsers(Boolean(usersCursor)).catch(() => {});
  }
});

// ---- outbound webhooks: endpoints and their recent deliveries ------------------------------------------
function cells(row, values) {
  for (const v of values) row.appendChild(document.createElement("td")).textContent = v ?? "";
  return row;
}

async function loadWebhooks() {
  const r = await api("/api/webhooks/endpoints").catch(() => null);
  if (!r?.ok) return;
  const items = r.body.items;
  $("webhooks-empty").hidden = items.length > 0;
  $("webhook-endpoints").replaceChildren(...items.map((e) => {
    const row = cells(document.createElement("tr"), [
      e.url,
      e.eventTypes.length ? e.eventTypes.join(", ") : "all",
      e.enabled ? "enabled" : `disabled: ${e.disabledReason || ""}`,
      String(e.consecutiveFailures),
    ]);
    row.className = e.enabled ? "" : "failed";
    row.addEventListener("click", () => showDeliveries(e));
    return row;
  }));
}

async function showDeliveries(endpoint) {
  const r = await api(`/api/webhooks/endpoints/${encodeURIComponent(endpoint.id)}/deliveries?limit=20`);
  if (!r.ok) return;
  $("webhook-deliveries-card").hidden = false;
  $("webhook-deliveries-url").textContent = endpoint.url;
  const time = (t) => (t ? new Date(t).toLocaleTimeString() : "");
  $("webhook-deliveries").replaceChildren(...r.body.items.map((d) => cells(document.createElement("tr"), [
    time(d.createdAt), d.eventType, d.emailId, d.status, String(d.attempts),
    d.lastStatusCode ? String(d.lastStatusCode) : d.lastError || "", time(d.nextAttemptAt),
  ])));
}
$("webhooks-refresh").addEventListener("click", loadWebhooks);

// ---- retention: the policy and the job's last run, from the readiness details (admin key only; loaded on demand,
// so that a user's dashboard never asks for what it may not read) -------------------------------------------
async function loadRetention() {
  const r = await api("/health/ready").catch(() => null);
  const detail = r?.body?.checks?.retention?.detail;
  $("retention-detail").textContent = detail
    ?? (r?.status === 403 ? "Only the admin key reads the retention job's state." : "The service did not answer.");
}
$("retention-refresh").addEventListener("click", loadRetention);

if (apiKey()) start();
