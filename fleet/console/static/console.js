// Oko console: the little the pages need beyond HTML. No inline scripts (the CSP forbids
// them); rows arrive rendered and escaped by the server, so nothing here builds markup
// from data.
"use strict";

function liveList(tbody) {
  const state = document.querySelector("[data-live-state]");
  const skipped = document.querySelector("[data-skipped]");
  const max = parseInt(tbody.dataset.rows || "200", 10);
  const source = new EventSource(tbody.dataset.stream);
  const say = (text, cls) => {
    if (state) { state.textContent = text; state.className = "live " + cls; }
  };
  source.onopen = () => say("live", "on");
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      say("disconnected", "off");
      window.setTimeout(() => window.location.reload(), 3000); // back through the login if need be
    } else {
      say("reconnecting…", "off");
    }
  };
  source.addEventListener("row", (msg) => {
    const data = JSON.parse(msg.data);
    const holder = document.createElement("tbody");
    holder.innerHTML = data.html; // server-rendered, escaped by the page's own template
    const row = holder.firstElementChild;
    if (!row) return;
    row.classList.add("fresh");
    const old = document.getElementById(data.id);
    if (old) old.replaceWith(row); else tbody.prepend(row);
    while (tbody.rows.length > max) tbody.deleteRow(tbody.rows.length - 1);
    document.querySelectorAll(".empty").forEach((e) => e.remove());
  });
  source.addEventListener("skipped", (msg) => {
    if (!skipped) return;
    skipped.hidden = false;
    skipped.textContent = JSON.parse(msg.data).rows + " older rows were skipped to catch up.";
  });
  source.addEventListener("end", (msg) => {
    source.close();
    const data = JSON.parse(msg.data);
    say("ended: " + data.reason, "off");
    if (data.login) window.setTimeout(() => { window.location.href = data.login; }, 2000);
  });
}

function refreshing(tbody) {
  const every = 1000 * parseInt(tbody.dataset.every || "5", 10);
  const tick = async () => {
    try {
      const reply = await fetch(tbody.dataset.refresh, { credentials: "same-origin" });
      if (reply.status === 401) { window.location.reload(); return; }
      if (reply.ok) tbody.innerHTML = await reply.text(); // server-rendered, escaped
    } catch (err) { /* the next tick tries again */ }
    window.setTimeout(tick, every);
  };
  window.setTimeout(tick, every);
}

function liveStatus(box) {
  const field = (name) => box.querySelector(`[data-field="${name}"]`);
  const show = (name, text) => { const el = field(name); if (el) el.textContent = text; };
  const tick = async () => {
    let data;
    try {
      const reply = await fetch(box.dataset.liveStatus, { credentials: "same-origin" });
      if (!reply.ok) { show("ended", "the view is gone (" + reply.status + ")"); return; }
      data = await reply.json();
    } catch (err) { window.setTimeout(tick, 2000); return; }
    show("frames", String(data.frames));
    show("captured", data.capture_us
      ? new Date(data.capture_us / 1000).toISOString().slice(11, 23) + " UTC" : "-");
    show("size", data.width ? data.width + "×" + data.height : "-");
    show("tracks", String(data.tracks));
    show("seconds_left", data.seconds_left + " s");
    show("box_error", data.box_error);
    show("problem", data.problem);
    show("ended", data.ended);
    if (data.ended) { box.classList.add("ended"); return; }
    window.setTimeout(tick, 1000);
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("tbody[data-stream]").forEach(liveList);
  document.querySelectorAll("tbody[data-refresh]").forEach(refreshing);
  document.querySelectorAll("[data-live-status]").forEach(liveStatus);
});
