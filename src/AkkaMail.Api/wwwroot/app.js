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
    row.addEventListener("click", () => showDetails(e.id));
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

// ---- details ----------------------------------------------------------------------------------------
async function showDetails(id) {
  const r = await api(`/api/emails/${encodeURIComponent(id)}`);
  if (!r.ok) return;
  $("details").hidden = false;
  $("details-id").textContent = id;
  const list = $("timeline");
  list.replaceChildren(...r.body.timeline.map((t) => {
    const li = document.createElement("li");
    const time = li.appendChild(document.createElement("time"));
    time.textContent = new Date(t.at).toLocaleTimeString();
    li.appendChild(document.createElement("strong")).textContent = t.type;
    if (t.recipient) li.append(` ${t.recipient}`);
    if (t.detail) li.append(` — ${t.detail}`);
    return li;
  }));
}
$("details-close").addEventListener("click", () => { $("details").hidden = true; $("details-id").textContent = ""; });

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
