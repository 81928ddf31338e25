// The "Settings → API keys" page of github.com/keyward/apikey/admin.
// Plain JavaScript, no dependencies. It talks to the REST routes next to
// it (../api-keys, ../audit-events) with the session the host set, and
// sends the CSRF token from config.json on every state-changing request.
// A key it is shown lives only in the open dialog: never in a URL, in
// storage, or in the page once the dialog closes.
"use strict";

(() => {
  const PAGE_SIZE = 20;
  const base = new URL("../", window.location.href);
  const $ = (id) => document.getElementById(id);

  const state = {
    cfg: null,
    status: "",
    cursors: [""], // cursors[i] opens page i
    page: 0,
    next: null,
    keys: new Map(),
    target: null, // the key a dialog acts on
    opener: null, // the element focus returns to
    eventsCursor: null,
  };

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = state.cfg.csrf_token || "";
    const init = { method, headers, credentials: "same-origin", cache: "no-store", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(new URL(path, base), init);
    } catch (e) {
      throw new APIError(0, "The service could not be reached.");
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      if (res.status === 401) throw new APIError(401, "Your session has ended: reload the page to sign in again.");
      const msg = data && data.error && data.error.message ? data.error.message : res.statusText;
      throw new APIError(res.status, msg || "Request failed (" + res.status + ")");
    }
    return data;
  }

  // Elements, built without HTML strings.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
  const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function when(iso, fmt, empty) {
    if (!iso) return el("span", { class: "none", text: empty });
    return el("time", { datetime: iso, title: iso, text: (fmt || dateFmt).format(new Date(iso)) });
  }

  function show(id, text) {
    const e = $(id);
    e.textContent = text || "";
    e.hidden = !text;
  }

  let noticeTimer = 0;
  function notice(text) {
    show("problem", "");
    show("notice", text);
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => show("notice", ""), 6000);
  }

  function problem(err) {
    show("notice", "");
    show("problem", err.message || String(err));
  }

  // Dialogs: native <dialog> with showModal traps focus and closes on
  // Escape; focus goes back to the opener.
  function openDialog(id, opener) {
    state.opener = opener || document.activeElement;
    const d = $(id);
    d.showModal();
    const first = d.querySelector("[autofocus]") || d.querySelector("input:not([type=hidden]):not([readonly]), select, textarea");
    if (first) first.focus();
  }

  function closeDialog(id) {
    const d = $(id);
    if (d.open) d.close();
  }

  function onClose(d) {
    if (state.opener && document.contains(state.opener)) state.opener.focus();
    else $("main").focus();
    state.opener = null;
    if (d.id !== "secret-dialog" && d.id !== "events-dialog") state.target = null;
  }

  // The key: shown in one input of one dialog, wiped when it closes.
  function showSecret(title, label, secret) {
    $("secret-title").textContent = title;
    $("secret-label").textContent = label;
    $("secret-value").value = secret;
    $("secret-copied").textContent = "";
    openDialog("secret-dialog", $("create-open"));
    $("secret-value").focus();
    $("secret-value").select();
  }

  function wipeSecret() {
    const input = $("secret-value");
    input.value = "";
    input.removeAttribute("value");
    input.setSelectionRange(0, 0);
    $("secret-copied").textContent = "";
  }

  async function copySecret() {
    const input = $("secret-value");
    let ok = false;
    try {
      await navigator.clipboard.writeText(input.value);
      ok = true;
    } catch (e) {
      input.focus();
      input.select();
      try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
    }
    $("secret-copied").textContent = ok ? "Copied to the clipboard." : "Press Ctrl+C (⌘C) to copy the selected key.";
  }

  // The list.
  async function load() {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.status) q.set("status", state.status);
    const cursor = state.cursors[state.page];
    if (cursor) q.set("cursor", cursor);
    const table = $("keys");
    table.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", "api-keys?" + q.toString());
      state.next = page.next_cursor;
      render(page.data);
    } catch (err) {
      problem(err);
    } finally {
      table.removeAttribute("aria-busy");
    }
  }

  function render(keys) {
    state.keys = new Map(keys.map((k) => [k.id, k]));
    const rows = keys.map(row);
    $("keys-body").replaceChildren(...rows);
    $("empty").hidden = keys.length > 0;
    $("prev-page").disabled = state.page === 0;
    $("next-page").disabled = !state.next;
    $("page-label").textContent = keys.length ? "Page " + (state.page + 1) : "";
  }

  function row(k) {
    const scopes = k.scopes.length
      ? k.scopes.map((s) => el("span", { class: "scope", text: s }))
      : [el("span", { class: "none", text: "None" })];
    const actions = el("td", { class: "row-actions", "data-label": "Actions" });
    const manage = state.cfg.can_manage && k.status !== "revoked";
    if (manage && k.status !== "expired") {
      actions.append(button(k.disabled ? "Enable" : "Disable", "toggle", k));
      if (!k.rotated_to_id) actions.append(button("Rotate", "rotate", k));
    }
    actions.append(button("Events", "events", k));
    if (manage) actions.append(button("Revoke", "revoke", k, "link-danger"));
    return el("tr", { "data-key-id": k.id },
      el("td", { class: "name", "data-label": "Name", text: k.name }),
      el("td", { "data-label": "Key" }, el("code", { text: k.prefix + "…" })),
      el("td", { "data-label": "Environment" }, el("span", { class: "env " + k.environment, text: k.environment })),
      el("td", { "data-label": "Scopes" }, el("span", {}, ...scopes)),
      el("td", { "data-label": "Created" }, when(k.created_at)),
      el("td", { "data-label": "Last used" }, when(k.last_used_at, dateFmt, "Never")),
      el("td", { "data-label": "Expires" }, when(k.expires_at, dateFmt, "Never")),
      el("td", { "data-label": "Status" }, el("span", { class: "badge " + k.status, text: k.status })),
      actions);
  }

  function button(label, action, k, extra) {
    return el("button", {
      type: "button", class: "btn small" + (extra ? " " + extra : ""), "data-action": action,
      "data-id": k.id, "aria-label": label + " " + k.name, text: label,
    });
  }

  async function onRowAction(ev) {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const k = state.keys.get(b.dataset.id);
    if (!k) return;
    state.target = k;
    switch (b.dataset.action) {
      case "toggle": return toggle(k, b);
      case "rotate":
        $("rotate-name").textContent = k.name;
        $("rotate-prefix").textContent = k.prefix + "…";
        show("rotate-error", "");
        return openDialog("rotate-dialog", b);
      case "revoke":
        $("revoke-name").textContent = k.name;
        $("revoke-prefix").textContent = k.prefix + "…";
        show("revoke-error", "");
        return openDialog("revoke-dialog", b);
      case "events": return openEvents(k, b);
    }
  }

  async function toggle(k, b) {
    b.disabled = true;
    try {
      await api("PATCH", "api-keys/" + encodeURIComponent(k.id), { disabled: !k.disabled });
      notice((k.disabled ? "Enabled " : "Disabled ") + k.name + ".");
      await load();
      focusRow(k.id, "toggle");
    } catch (err) {
      problem(err);
      b.disabled = false;
    }
  }

  function focusRow(id, action) {
    const r = document.querySelector('tr[data-key-id="' + CSS.escape(id) + '"]');
    const b = r && (r.querySelector('[data-action="' + action + '"]') || r.querySelector("button"));
    if (b) b.focus();
    else $("main").focus();
  }

  // Create.
  function fillCreateForm() {
    const cfg = state.cfg;
    if (Array.isArray(cfg.scopes)) {
      $("scope-choices").hidden = false;
      $("scope-free").hidden = true;
      const list = cfg.scopes.map((s, i) => el("label", {},
        el("input", { type: "checkbox", name: "scope", value: s, id: "scope-" + i }),
        el("code", { text: s })));
      if (!list.length) list.push(el("p", { class: "help", text: "You may grant no scopes." }));
      $("scope-list").replaceChildren(...list);
    } else {
      $("scope-choices").hidden = true;
      $("scope-free").hidden = false;
    }
    $("env-list").replaceChildren(...cfg.environments.map((env, i) => el("label", {},
      el("input", { type: "radio", name: "environment", value: env, id: "env-" + env, ...(i === 0 ? { checked: "" } : {}) }),
      document.createTextNode(env === "live" ? "Live" : env === "test" ? "Test" : env))));
    const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
    $("create-date").min = tomorrow;
  }

  function createBody() {
    const form = $("create-form");
    const body = { name: $("create-name").value.trim() };
    if (!body.name) throw new Error("Give the key a name.");
    if (Array.isArray(state.cfg.scopes)) {
      body.scopes = [...form.querySelectorAll("input[name=scope]:checked")].map((c) => c.value);
    } else {
      body.scopes = $("create-scopes").value.split(/[\s,]+/).filter(Boolean);
    }
    const env = form.querySelector("input[name=environment]:checked");
    if (env) body.environment = env.value;
    const exp = $("create-expiry").value;
    if (exp === "custom") {
      const d = $("create-date").value;
      if (!d) throw new Error("Pick the date the key expires on.");
      body.expires_at = d + "T23:59:59Z";
    } else if (exp !== "never") {
      body.expires_in_days = Number(exp);
    }
    return body;
  }

  async function submitCreate(ev) {
    ev.preventDefault();
    show("create-error", "");
    const submit = ev.submitter || $("create-form").querySelector("[type=submit]");
    let body;
    try { body = createBody(); } catch (err) { show("create-error", err.message); return; }
    submit.disabled = true;
    try {
      const created = await api("POST", "api-keys", body);
      let secret = created.key;
      delete created.key;
      closeDialog("create-dialog");
      $("create-form").reset();
      $("custom-date-field").hidden = true;
      showSecret("Copy your new API key", "API key “" + created.name + "”", secret);
      secret = null;
      notice("Created " + created.name + ".");
      state.page = 0;
      state.cursors = [""];
      load();
    } catch (err) {
      show("create-error", err.message);
    } finally {
      submit.disabled = false;
    }
  }

  // Revoke.
  async function confirmRevoke() {
    const k = state.target;
    if (!k) return;
    const b = $("revoke-confirm");
    b.disabled = true;
    try {
      await api("DELETE", "api-keys/" + encodeURIComponent(k.id));
      closeDialog("revoke-dialog");
      notice("Revoked " + k.name + ". Requests with it now fail.");
      await load();
    } catch (err) {
      show("revoke-error", err.message);
    } finally {
      b.disabled = false;
    }
  }

  // Rotate.
  async function submitRotate(ev) {
    ev.preventDefault();
    const k = state.target;
    if (!k) return;
    const submit = $("rotate-form").querySelector("[type=submit]");
    submit.disabled = true;
    try {
      const grace = Number($("rotate-grace").value);
      const next = await api("POST", "api-keys/" + encodeURIComponent(k.id) + "/rotate", { grace_period_seconds: grace });
      let secret = next.key;
      delete next.key;
      closeDialog("rotate-dialog");
      showSecret("Copy the new key of " + next.name, "New API key “" + next.name + "”", secret);
      secret = null;
      notice(grace ? "Rotated " + k.name + ". The old key works until the grace period ends." : "Rotated " + k.name + ".");
      load();
    } catch (err) {
      show("rotate-error", err.message);
    } finally {
      submit.disabled = false;
    }
  }

  // Audit events.
  async function openEvents(k, b) {
    $("events-sub").textContent = k.name + " (" + k.prefix + "…)";
    $("events-body").replaceChildren();
    show("events-error", "");
    $("events-empty").hidden = true;
    $("events-more").hidden = true;
    state.eventsCursor = null;
    openDialog("events-dialog", b);
    $("events-dialog").querySelector("[data-close]").focus();
    await moreEvents();
  }

  async function moreEvents() {
    const k = state.target;
    if (!k) return;
    const q = new URLSearchParams({ key_id: k.id, limit: "50" });
    if (state.eventsCursor) q.set("cursor", state.eventsCursor);
    try {
      const page = await api("GET", "audit-events?" + q.toString());
      $("events-body").append(...page.data.map((e) => el("tr", {},
        el("td", {}, when(e.time, timeFmt)),
        el("td", {}, el("code", { text: e.action })),
        el("td", { text: e.actor_type + (e.actor_id ? " " + e.actor_id : "") }),
        el("td", { text: e.outcome }),
        el("td", { text: e.client_addr || "" }))));
      state.eventsCursor = page.next_cursor;
      $("events-more").hidden = !page.next_cursor;
      $("events-empty").hidden = $("events-body").children.length > 0;
    } catch (err) {
      show("events-error", err.message);
    }
  }

  async function start() {
    for (const d of document.querySelectorAll("dialog")) {
      d.addEventListener("close", () => onClose(d));
      d.addEventListener("click", (ev) => { if (ev.target.closest("[data-close]")) d.close(); });
    }
    // Wiped as the dialog closes, whichever way: its button, Escape
    // (cancel), or anything else (close, which fires a task later).
    const secret = $("secret-dialog");
    secret.querySelector("[data-close]").addEventListener("click", wipeSecret);
    secret.addEventListener("cancel", wipeSecret);
    secret.addEventListener("close", wipeSecret);
    $("secret-copy").addEventListener("click", copySecret);
    $("create-open").addEventListener("click", (ev) => {
      show("create-error", "");
      openDialog("create-dialog", ev.currentTarget);
    });
    $("create-form").addEventListener("submit", submitCreate);
    $("create-expiry").addEventListener("change", (ev) => {
      $("custom-date-field").hidden = ev.target.value !== "custom";
    });
    $("revoke-confirm").addEventListener("click", confirmRevoke);
    $("rotate-form").addEventListener("submit", submitRotate);
    $("events-more").addEventListener("click", moreEvents);
    $("keys-body").addEventListener("click", onRowAction);
    $("status-filter").addEventListener("change", (ev) => {
      state.status = ev.target.value;
      state.page = 0;
      state.cursors = [""];
      load();
    });
    $("next-page").addEventListener("click", () => {
      if (!state.next) return;
      state.cursors[state.page + 1] = state.next;
      state.page++;
      load();
    });
    $("prev-page").addEventListener("click", () => {
      if (state.page === 0) return;
      state.page--;
      load();
    });
    try {
      state.cfg = await api("GET", "ui/config.json");
    } catch (err) {
      problem(err);
      return;
    }
    $("whoami").textContent = state.cfg.actor_id ? "Signed in as " + state.cfg.actor_id : "";
    if (state.cfg.can_manage && state.cfg.csrf_token) {
      $("create-open").disabled = false;
      fillCreateForm();
    } else {
      state.cfg.can_manage = false;
    }
    await load();
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
