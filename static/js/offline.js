// Filing from a phone with a weak network. The service worker (sw.js) keeps the due list and its forms on the
// phone (a period's form, the correction of one already filed, a new ledger record); this script keeps what the
// cadre types (a draft in localStorage, per person and form), holds a form submitted with no network in the
// phone's outbox under an Idempotency-Key made when submit was pressed (a correction also with the version it
// was based on, sent as If-Match), and sends it through the unit API when the network returns (the `online`
// event). The server files a key once, so a
// retry or a double tap never files twice. A refusal (a locked period, a form changed meanwhile, a value it does
// not accept) stays in the outbox with the cadre's values, shown on every page until they are used or discarded.
// Rules are checked before anything is held, by the shared evaluator (rules.js): no rule is written here.
(function () {
  "use strict";
  const configTag = document.getElementById("offline-config");
  if (!configTag) return;
  const cfg = JSON.parse(configTag.textContent);
  const W = cfg.words;
  const OUTBOX = "onetable.outbox";
  // a form's draft on the phone: "<sheet>/<period>", "correction/<submission>" or "record/<ledger>" (offline.py)
  const draftKey = (draft) => "onetable.draft:" + cfg.user + ":" + draft;
  const pageLoad = crypto.randomUUID(); // a ledger record's page holds one record: a second tap here is the same one
  const inFlight = new Set(); // keys being sent by this page: one request per key at a time

  // --- storage ---------------------------------------------------------------------------------------------
  function outbox() {
    try {
      // an entry kept before corrections and records were held offline was a period's first filing
      const entries = JSON.parse(localStorage.getItem(OUTBOX) || "[]");
      for (const e of entries) if (!e.slot) Object.assign(e, { slot: e.sheet + "/" + e.period, kind: "filing" });
      return entries;
    } catch (e) {
      return [];
    }
  }
  function keep(entries) {
    localStorage.setItem(OUTBOX, JSON.stringify(entries));
    render();
  }
  function update(key, change) {
    keep(outbox().map((e) => (e.key === key ? Object.assign(e, change) : e)));
  }
  const mine = () => outbox().filter((e) => e.user === cfg.user);

  // --- the form: its inputs as kept, and as the unit API takes them (the form's own raw answers) -------------
  // base_version: a correction brought back into a newer form is based on the version that form shows
  const SKIP = new Set(["csrfmiddlewaretoken", "token", "action", "base_version"]);
  function formState(form) {
    const state = {};
    for (const input of form.elements) {
      if (!input.name || SKIP.has(input.name) || input.disabled) continue;
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) {
        state[input.name] = state[input.name] || [];
        continue;
      }
      (state[input.name] = state[input.name] || []).push(input.value);
    }
    return state;
  }
  function applyState(form, state) {
    const unknown = [];
    for (const name of Object.keys(state)) {
      const inputs = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
      if (!inputs.length) {
        if (state[name].some((v) => v !== "")) unknown.push(name);
        continue;
      }
      for (const input of inputs) {
        if (input.type === "checkbox" || input.type === "radio") input.checked = state[name].indexOf(input.value) >= 0;
        else input.value = state[name][0] || "";
      }
    }
    form.dispatchEvent(new Event("input", { bubbles: true })); // the live rule checks see the values
    return unknown;
  }
  function body(form, data, state) {
    const one = (name) => (state[name] || [])[0] || "";
    const out = { values: {}, not_applicable: {}, explanations: {}, disputes: {} };
    for (const code of Object.keys(data.kinds)) {
      if (one("na__" + code)) out.not_applicable[code] = one("nar__" + code);
      else if (form.querySelector('input[type=checkbox][name="v__' + code + '"]')) out.values[code] = state["v__" + code] || [];
      else out.values[code] = one("v__" + code);
      if ("dispute_" + code in state) out.disputes[code] = one("dispute_" + code);
    }
    for (const name of Object.keys(state)) {
      if (name.startsWith("explain__") && one(name)) out.explanations[name.slice("explain__".length)] = one(name);
    }
    out.form = data.form;
    // a correction names its submission in the address; a new record, its ledger; a first filing, its period too
    if (data.kind === "correction") out.reason = one("reason");
    else out.sheet = data.sheet;
    if (data.kind === "filing") out.period = data.period;
    return out;
  }
  // each answer as the cadre reads it (the field's label and the chosen option's words), for the outbox's list
  function shown(form, data, state) {
    const lines = [];
    for (const code of Object.keys(data.kinds)) {
      const label = form.querySelector("#field-" + CSS.escape(code) + " > label");
      const name = label ? label.firstChild.textContent.trim() : code;
      let text;
      if ((state["na__" + code] || [])[0]) text = W.not_applicable + "：" + ((state["nar__" + code] || [])[0] || "");
      else {
        const picked = form.querySelectorAll('[name="v__' + code + '"]:checked, select[name="v__' + code + '"] option:checked');
        if (picked.length) text = Array.from(picked, (i) => (i.closest("label") || i).textContent.trim()).filter(Boolean).join("、");
        else text = (state["v__" + code] || [])[0] || "";
      }
      if (text) lines.push({ code: code, name: name, text: text });
    }
    // a correction's reason is the cadre's too: kept, and shown with the values
    const reason = form.querySelector("#id_reason");
    if (data.kind === "correction" && reason && reason.value.trim()) {
      const label = form.querySelector('label[for="id_reason"]');
      lines.push({ code: "reason", name: label ? label.firstChild.textContent.trim() : "reason", text: reason.value.trim() });
    }
    return lines;
  }

  // --- pressing submit with no network ---------------------------------------------------------------------
  function fieldsHold(form, data) {
    // each answer's own rules (type, range, options…), as the server would refuse them on sending: named here
    if (!data.fields) return null;
    const found = OneTableRules.fieldProblems(form, data.fields);
    return found.length ? found.map((p) => p.message_zh + " / " + p.message_en) : null;
  }
  function rulesHold(form, rules) {
    // the same evaluator and definitions as the live checks: an error blocks, a warning wants its line
    const values = OneTableRules.formValues(form, rules.kinds);
    for (const rule of rules.rules) {
      if (OneTableRules.evaluate(rule, values) !== "fail") continue;
      if (rule.importance === "error") return W.fix_first;
      const explained = form.querySelector('[name="explain__rule:' + CSS.escape(rule.code) + '"]');
      if (!explained || !explained.value.trim()) return W.explain_first;
    }
    return null;
  }
  function holdSubmit(form, event) {
    const data = offlineForm();
    if (navigator.onLine || !data) return false; // online: the form posts as always
    event.preventDefault();
    const rules = JSON.parse(document.getElementById("rules-data").textContent);
    const wrong = fieldsHold(form, data);
    if (wrong) return say(W.fix_fields, "error", wrong), true;
    const refused = rulesHold(form, rules);
    if (refused) return say(refused, "error"), true;
    const state = formState(form);
    const request = body(form, data, state);
    const entries = outbox();
    const slot = slotOf(data);
    const same = entries.find((e) => e.user === cfg.user && e.slot === slot);
    // a second tap on the same answers keeps the first key: the server files a key once
    if (same && same.state === "waiting" && JSON.stringify(same.body) === JSON.stringify(request)) return say(W.queued, "ok"), true;
    // a record is told from the others waiting by its date
    const day = data.kind === "record" ? (state["v__" + data.date_field] || [])[0] : "";
    const dated = day ? " · " + day : "";
    const entry = {
      key: crypto.randomUUID(), // made when submit is pressed; sent as Idempotency-Key
      user: cfg.user,
      slot: slot,
      kind: data.kind,
      draft: data.draft,
      api: data.api,
      ifMatch: data.kind === "correction" ? '"' + data.base_version + '"' : null, // the version it was based on
      sheet: data.sheet,
      period: data.period,
      title: data.title + dated,
      name: data.name + dated, // without "correction of" / "new record": what the line saying it was sent names
      url: location.pathname,
      pressed: new Date().toISOString(),
      body: request,
      inputs: state,
      shown: shown(form, data, state),
      state: "waiting",
    };
    keep(entries.filter((e) => e !== same).concat([entry]));
    // a record held is done with as a draft: the next "add a record" starts empty, not with this one again
    if (data.kind === "record") localStorage.removeItem(draftKey(data.draft));
    say(W.queued, "ok");
    return true;
  }
  // what one outbox entry stands for: the period's filing, the correction of one submission, or the record
  // typed on this very page (a ledger takes many records; a second tap on the same page is the same record)
  function slotOf(data) {
    return data.kind === "record" ? data.draft + "/" + pageLoad : data.draft;
  }
  function offlineForm() {
    const dataTag = document.getElementById("offline-form");
    return dataTag ? JSON.parse(dataTag.textContent) : null;
  }
  function say(text, tone, lines) {
    let box = document.getElementById("offline-said");
    if (!box) {
      box = document.createElement("div");
      box.id = "offline-said";
      box.setAttribute("role", "status");
      document.querySelector("main").prepend(box);
    }
    box.className = "flash " + (tone === "error" ? "error" : "success");
    box.textContent = text;
    if (lines && lines.length) {
      const list = document.createElement("ul");
      for (const line of lines) list.appendChild(el("li", {}, line));
      box.appendChild(list);
    }
    box.scrollIntoView({ block: "nearest" });
  }

  // --- sending when the network returns ---------------------------------------------------------------------
  function csrf() {
    const found = document.cookie.split("; ").find((c) => c.startsWith(cfg.csrf_cookie + "="));
    return found ? decodeURIComponent(found.split("=")[1]) : cfg.csrf;
  }
  async function send(entry) {
    inFlight.add(entry.key);
    let response;
    try {
      const headers = { "Content-Type": "application/json", "Idempotency-Key": entry.key, "X-CSRFToken": csrf() };
      if (entry.ifMatch) headers["If-Match"] = entry.ifMatch;
      response = await fetch(entry.api || cfg.api, {
        method: "POST",
        credentials: "same-origin",
        headers: headers,
        body: JSON.stringify(entry.body),
      });
    } catch (e) {
      return; // still no network: it waits for the next `online`
    } finally {
      inFlight.delete(entry.key);
    }
    const answer = await response.json().catch(() => ({}));
    if (response.status === 201) {
      localStorage.removeItem(draftKey(entry.draft || entry.sheet + "/" + entry.period));
      keep(outbox().filter((e) => e.key !== entry.key));
      sent.push({ kind: entry.kind, name: entry.name || entry.title, id: answer.id });
      render();
      refreshDueList();
    } else if (response.status === 403 || response.status === 401) {
      update(entry.key, { note: W.login });
    } else if (response.status === 409 && answer.code === "idempotency.in_flight") {
      return; // the same key is being filed right now (another tab): its answer is the one that counts
    } else if (response.status >= 400 && response.status < 500) {
      // 409: the period locked or the form changed; 412: the submission was corrected meanwhile
      const conflict = response.status === 409 || response.status === 412;
      update(entry.key, { state: conflict ? "conflict" : "refused", answer: answer, note: "" });
      const said = document.getElementById("offline-said"); // "kept, sent when the network returns" no longer holds
      if (said) said.remove();
    }
  }
  const sent = []; // filed from this page: shown with a link, not kept
  // the due list on this page was read before the filing was sent: read it again, so its status says what was
  // just filed (not "not started" until a reload), and keep that copy for the next time the phone is offline
  async function refreshDueList() {
    if (!document.getElementById("due-list")) return;
    let response;
    try {
      response = await fetch(cfg.home, { credentials: "same-origin" });
    } catch (e) {
      return; // the network went again: the list is read anew on the next visit
    }
    if (!response.ok || response.redirected) return;
    if (window.caches) await caches.open("onetable-pages").then((pages) => pages.put(cfg.home, response.clone())).catch(() => {});
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("due-list");
    const shown = document.getElementById("due-list");
    if (fresh && shown) shown.replaceWith(document.importNode(fresh, true));
  }
  function flush() {
    if (!navigator.onLine) return;
    for (const entry of mine()) if (entry.state === "waiting" && !inFlight.has(entry.key)) send(entry);
  }

  // --- what the page says is waiting --------------------------------------------------------------------------
  // A moment as the pages write one (2026-11-30 22:05, the phone's own clock and time zone)
  function shownTime(d) {
    const two = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.assign(node, attrs || {});
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function describe(entry) {
    if (entry.state === "waiting") return entry.note || W.waiting;
    const answer = entry.answer || {};
    if (answer.code === "form.changed") return W.changed;
    if (answer.code === "if_match.mismatch") return W.corrected_meanwhile.replace("%(current)s", answer.current_version);
    const lines = entry.state === "refused" ? [W.refused] : [];
    const names = {};
    for (const line of entry.shown) names[line.code] = line.name;
    // the server's words; a field of the form named as the cadre reads it
    for (const p of answer.errors || [answer]) {
      if (!p.message_zh) continue;
      // the server's words name their field already ("参与人数：不能小于 0"): its name is put before the others only
      const name = names[p.field];
      lines.push(name && !p.message_zh.startsWith(name + "：") ? name + "：" + p.message_zh : p.message_zh);
    }
    return lines.join(" ");
  }
  // a correction refused because another one came first (412): each field that newer version changed, its value
  // beside the one the cadre kept, so sending the kept values again is a decision and never a silent undo
  function changedLines(entry) {
    const answer = entry.answer || {};
    if (answer.code !== "if_match.mismatch" || !(answer.changed || []).length) return [];
    const kept = {};
    for (const line of entry.shown) kept[line.code] = line;
    return answer.changed.map((c) => {
      const mine = kept[c.field];
      const words = W.theirs_yours.replace(/%\(current\)s/g, answer.current_version).replace("%(theirs)s", c.current);
      return (mine ? mine.name : c.field) + "：" + words.replace("%(yours)s", mine ? mine.text : "—");
    });
  }
  function changedBox(entry) {
    const lines = changedLines(entry);
    if (!lines.length) return null;
    const box = el("div", { className: "changed-meanwhile" });
    box.appendChild(el("p", {}, W.changed_fields.replace(/%\(current\)s/g, entry.answer.current_version)));
    const list = el("ul", {});
    for (const line of lines) list.appendChild(el("li", {}, line));
    box.appendChild(list);
    return box;
  }
  function render() {
    let panel = document.getElementById("outbox");
    const entries = mine();
    if (!panel) {
      if (!entries.length && !sent.length) return;
      panel = el("section", { id: "outbox", className: "card outbox" });
      panel.setAttribute("aria-live", "polite");
      document.querySelector("main").prepend(panel);
    }
    panel.textContent = "";
    panel.hidden = !entries.length && !sent.length;
    for (const done of sent) {
      const said = done.kind === "correction" ? W.sent_correction : done.kind === "record" ? W.sent_record : W.sent;
      const p = el("p", { className: "flash success" }, said + "：" + done.name + " ");
      if (done.id) p.appendChild(el("a", { href: cfg.submission.replace("/0/", "/" + done.id + "/") }, W.open_sent));
      panel.appendChild(p);
    }
    if (!entries.length) return;
    const waiting = entries.filter((e) => e.state === "waiting");
    if (waiting.length) panel.appendChild(el("h2", {}, W.waiting_title));
    if (waiting.length < entries.length) panel.appendChild(el("h2", {}, W.conflict_title));
    const list = el("ul", { className: "outbox-list" });
    for (const entry of entries) list.appendChild(item(entry));
    panel.appendChild(list);
  }
  function item(entry) {
    const li = el("li", { className: "outbox-item " + entry.state });
    li.dataset.key = entry.key;
    li.dataset.state = entry.state;
    li.appendChild(el("p", { className: "outbox-title" }, entry.title));
    li.appendChild(el("p", { className: entry.state === "waiting" ? "muted" : "error" }, describe(entry)));
    const changed = changedBox(entry);
    if (changed) li.appendChild(changed);
    li.appendChild(el("p", { className: "muted" }, W.pressed + " " + shownTime(new Date(entry.pressed))));
    const details = el("details", { open: entry.state !== "waiting" });
    details.appendChild(el("summary", {}, W.kept_values));
    const dl = el("dl", { className: "outbox-values" });
    for (const line of entry.shown) {
      dl.appendChild(el("dt", {}, line.name));
      dl.appendChild(el("dd", {}, line.text));
    }
    details.appendChild(dl);
    li.appendChild(details);
    if (entry.state !== "waiting") {
      const actions = el("p", { className: "actions" });
      const open = el("a", { className: "button primary", href: entry.url + "#restore-" + entry.key }, W.open_form);
      // on the form's own page the link would only move to its anchor: load the form anew (the latest version
      // for a correction, the new form for a changed one), then the values are brought back into it
      open.addEventListener("click", (e) => {
        if (entry.url !== location.pathname) return;
        e.preventDefault();
        location.assign(open.href);
        location.reload();
      });
      actions.appendChild(open);
      // corrected by someone else meanwhile: what that version says, before the cadre's values go over it
      if ((entry.answer || {}).code === "if_match.mismatch") actions.appendChild(el("a", { className: "button", href: entry.url.replace(/correct\/$/, "") }, W.open_current));
      const discard = el("button", { type: "button" }, W.discard);
      discard.addEventListener("click", () => {
        if (confirm(W.discard_confirm)) keep(outbox().filter((e) => e.key !== entry.key));
      });
      actions.appendChild(discard);
      li.appendChild(actions);
    }
    return li;
  }

  // --- the fill page: its draft on the phone, and values brought back from the outbox ------------------------
  function fillPage() {
    const form = document.getElementById("fill-form");
    const data = offlineForm();
    if (!form || !data) return;
    const key = draftKey(data.draft);
    const restoring = location.hash.startsWith("#restore-") && outbox().find((e) => "#restore-" + e.key === location.hash);
    if (restoring) {
      const unknown = applyState(form, restoring.inputs);
      const gone = restoring.shown.filter((l) => unknown.indexOf("v__" + l.code) >= 0);
      say(W.restored + (gone.length ? " " + W.no_longer_asked + "：" + gone.map((l) => l.name + " " + l.text).join("；") : ""), "ok");
      const changed = changedBox(restoring); // what the newer version this form shows changed, beside the kept values
      if (changed) document.getElementById("offline-said").appendChild(changed);
    } else if (!document.getElementById("problems")) {
      const kept = JSON.parse(localStorage.getItem(key) || "null");
      if (kept && JSON.stringify(kept) !== JSON.stringify(formState(form))) {
        applyState(form, kept);
        say(W.restored, "ok");
      }
    }
    // offline, the page is the phone's kept copy, made on some earlier day; online it is the server's, dated by it
    if (!restoring && !navigator.onLine && !document.getElementById("problems")) dateRecord(form, data);
    const save = () => localStorage.setItem(key, JSON.stringify(formState(form)));
    form.addEventListener("input", save);
    form.addEventListener("change", save);
    form.addEventListener("submit", (e) => {
      // posted as always (online): the values brought back for it are in the form now, not in the outbox
      if (!e.defaultPrevented && e.submitter && e.submitter.hasAttribute("data-once")) {
        const done = (o) => o.slot === slotOf(data) || (restoring && o.key === restoring.key);
        keep(outbox().filter((o) => !(o.user === cfg.user && done(o) && o.state !== "waiting")));
      }
    });
    if (!navigator.onLine) say(W.offline, "ok");
    window.addEventListener("offline", () => say(W.offline, "ok"));
  }
  // a filed form's page: the phone's drafts it ends are done with (offline.py, filed_drafts)
  function filedPage() {
    const filed = document.getElementById("filed-drafts");
    if (filed) for (const draft of JSON.parse(filed.textContent)) localStorage.removeItem(draftKey(draft));
  }
  // a new record's form kept on the phone is dated the day it was kept: untouched, it is dated today instead
  function dateRecord(form, data) {
    const input = data.kind === "record" && form.querySelector('[name="v__' + CSS.escape(data.date_field) + '"]');
    if (!input || input.value !== input.defaultValue) return;
    const now = new Date();
    const today = new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
    if (input.value !== today) {
      input.value = today;
      form.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  // --- keeping the cadre's pages on the phone -------------------------------------------------------------------
  async function keepPages() {
    if (!("serviceWorker" in navigator) || !window.caches) return;
    await navigator.serviceWorker.register(cfg.sw + "?static=" + encodeURIComponent(cfg.static), { scope: "/" });
    // a locked form takes nothing; a filed one, its page and its correction form; a ledger, its new record's form
    const links = document.querySelectorAll("#due-list a.due-link:not([data-locked]), a[data-keep]");
    if (!links.length || !navigator.onLine) return;
    // every form the due list links to, and the scripts and styles those pages load (the pages sw.js keeps)
    const pages = await caches.open("onetable-pages");
    const files = await caches.open("onetable-files");
    const linked = Array.from(links, (a) => [a.href].concat(a.dataset.correct ? [a.dataset.correct] : [])).flat();
    const kept = /^\/(?:fill\/[\w-]+\/[\w-]+|submissions\/\d+(?:\/correct)?|ledger\/[\w-]+\/new)\/$/;
    const urls = [cfg.home].concat(linked.map((u) => new URL(u, location.href).pathname).filter((p) => kept.test(p)));
    for (const url of urls) {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok || response.redirected) continue;
      const html = await response.clone().text();
      await pages.put(url, response);
      const page = new DOMParser().parseFromString(html, "text/html");
      const needs = Array.from(page.querySelectorAll("script[src], link[rel=stylesheet], link[rel=icon]"), (n) => n.getAttribute("src") || n.getAttribute("href"));
      await Promise.all(needs.map((u) => files.match(u).then((hit) => hit || files.add(u))));
    }
    await navigator.serviceWorker.ready;
    document.documentElement.dataset.offlineReady = "1";
    const status = document.getElementById("offline-status");
    if (status) status.textContent = W.ready;
  }
  function forgetOnLogout() {
    const logout = document.querySelector('form[action$="/logout/"]');
    if (logout && navigator.serviceWorker && navigator.serviceWorker.controller) {
      logout.addEventListener("submit", () => navigator.serviceWorker.controller.postMessage("forget-pages"));
    }
  }

  window.OneTableOffline = { holdSubmit: holdSubmit, flush: flush };
  fillPage();
  filedPage();
  render();
  forgetOnLogout();
  window.addEventListener("online", flush);
  flush();
  keepPages().catch(() => {}); // a phone without a service worker files online only, as before
})();
