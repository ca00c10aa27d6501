// The hookhost admin page: reads the admin API every two seconds and draws
// it. Everything from the API goes in as text, never as markup.
"use strict";

const every = 2000;
let token = sessionStorage.getItem("hookhost-admin-token") || "";

function headers(extra) {
  const h = Object.assign({}, extra);
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

async function api(path, options) {
  const res = await fetch(path, Object.assign({}, options, { headers: headers(options && options.headers) }));
  if (res.status === 401) {
    document.getElementById("token-form").hidden = false;
    throw new Error("the admin token is needed");
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function time(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : "";
}

function fill(id, rows, draw) {
  const body = document.getElementById(id);
  const fresh = document.createDocumentFragment();
  for (const row of rows) fresh.appendChild(draw(row));
  body.replaceChildren(fresh);
}

function plugins(rows) {
  fill("plugins-rows", rows, (r) => {
    const tr = document.createElement("tr");
    tr.append(cell(r.plugin), cell(r.kind), cell(r.route, "mono"), cell(r.version, "mono"),
      cell(r.state, r.state === "serving" ? "" : "not-served"));
    return tr;
  });
}

function deliveries(rows) {
  fill("deliveries-rows", rows, (d) => {
    const tr = document.createElement("tr");
    tr.dataset.id = d.id;
    tr.append(cell(time(d.received_at_ms)), cell(d.plugin), cell(d.state, "state-" + d.state),
      cell(d.attempts), cell(d.last_error, "mono"), cell(d.id, "mono"));
    const action = document.createElement("td");
    if (d.state === "dead" || d.state === "retrying") {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Replay";
      button.setAttribute("aria-label", "Replay delivery " + d.id);
      button.addEventListener("click", () => replay(d.id, button));
      action.appendChild(button);
    }
    tr.appendChild(action);
    return tr;
  });
}

function requests(rows) {
  fill("requests-rows", rows, (r) => {
    const tr = document.createElement("tr");
    tr.append(cell(time(r.at_ms)), cell(r.method + " " + r.path, "mono"), cell(r.plugin),
      cell(r.status, "status-" + String(r.status)[0]), cell((r.micros / 1000).toFixed(1)), cell(r.id, "mono"));
    return tr;
  });
}

function reloads(rows) {
  fill("reloads-rows", rows, (r) => {
    const tr = document.createElement("tr");
    tr.append(cell(time(r.at_ms)), cell(r.plugin), cell(r.outcome, "outcome-" + r.outcome), cell(r.detail, "mono"));
    return tr;
  });
}

function say(text) {
  document.getElementById("status").textContent = text;
}

async function replay(id, button) {
  button.disabled = true;
  try {
    const done = await api("/api/replay", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ids: [id] }),
    });
    say("replayed " + done.replayed + " delivery: " + id);
    await refresh();
  } catch (e) {
    say("replay failed: " + e.message);
    button.disabled = false;
  }
}

async function refresh() {
  const state = document.getElementById("delivery-state").value;
  try {
    const [p, d, q, r] = await Promise.all([
      api("/api/routes"),
      api("/api/deliveries?limit=100&state=" + encodeURIComponent(state)),
      api("/api/requests"),
      api("/api/reloads"),
    ]);
    plugins(p);
    deliveries(d);
    requests(q);
    reloads(r);
    document.body.dataset.loaded = "true";
    if (!document.getElementById("status").textContent.startsWith("replayed")) {
      say("updated " + new Date().toLocaleTimeString());
    }
  } catch (e) {
    say(e.message);
  }
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = document.getElementById("token").value;
  sessionStorage.setItem("hookhost-admin-token", token);
  document.getElementById("token-form").hidden = true;
  refresh();
});
document.getElementById("delivery-state").addEventListener("change", refresh);
// The next refresh is due only once this one is done: a slow host never
// gets a pile of them from one tab.
async function loop() {
  await refresh();
  setTimeout(loop, every);
}
loop();
