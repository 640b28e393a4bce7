// The token server's console: sign in with a caller token, see and make Zoom
// connections, start a meeting (ZAK), distribute OBF tokens with live
// progress, and wait for one's own tokens. Plain JS, no framework; every
// call goes through the server's API with the caller token, which is kept in
// this tab's sessionStorage and never put in a URL or logged. Tokens and
// signatures that arrive are shown masked, kept only in their card's
// closures for its Show and Copy buttons, and never logged or stored.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const STORAGE_KEY = "tokenserver.console.callerToken";
  const SIGN_IN_TIMEOUT_MS = 15000;
  const DISTRIBUTE_TIMEOUT_MS = 120000;

  const state = {
    token: null,   // the caller token while signed in
    socket: null,
    me: null,      // {userId, role} from the server's `authenticated`
    disconnecting: false, // this page is disconnecting a Zoom account: its own words say so
    dist: null,    // the distribute under way: {meetingId}
    received: 0,
  };

  // ---- small DOM helpers ----

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function show(e, on) { e.hidden = !on; }

  function setStatus(id, text) { $(id).textContent = text; }

  function clearError(box) { box.replaceChildren(); box.hidden = true; }

  // ---- errors: the server's sentence, in the page's words ----

  // The words the page uses for the fields the server names.
  const LABELS = {
    sub: "user id",
    role: "role",
    meetingId: "meeting number",
    hostUserId: "host user id",
    participantUserId: "participant user id",
    participantUserIds: "participant user ids",
    ttl: "ttl",
  };

  // label names a field as the page does; ids are the values sent, so that
  // "participantUserIds[1]" reads as the user id the person typed.
  function label(field, ids) {
    const m = /^participantUserIds\[(\d+)\]$/.exec(field);
    if (m) {
      const i = Number(m[1]);
      const v = ids && ids[i] !== undefined ? ` "${ids[i]}"` : "";
      return `participant user id #${i + 1}${v}`;
    }
    return LABELS[field] ?? field;
  }

  function relabel(sentence, ids) {
    return sentence.replace(/(?<![\w.])(participantUserIds\[\d+\]|participantUserIds|participantUserId|hostUserId|meetingId|sub)(?![\w[])/g,
      (f) => label(f, ids));
  }

  class ApiError extends Error {
    constructor(body, status) {
      super((body && (body.error || body.message)) || `The server answered HTTP ${status}.`);
      this.code = (body && body.code) || (status ? `http_${status}` : "");
      this.details = (body && Array.isArray(body.details)) ? body.details : [];
      this.authorizeUrl = body && body.authorizeUrl;
      this.status = status || 0;
    }
  }

  function asApiError(err) {
    if (err instanceof ApiError) return err;
    return new ApiError({ error: `Something went wrong in this page: ${err && err.message ? err.message : err}.`, code: "page_error" });
  }

  function showError(box, err, ids) {
    const e = asApiError(err);
    const p = el("p", "sentence", relabel(e.message, ids));
    if (e.code) p.append(" ", el("code", "code", e.code));
    box.replaceChildren(p);
    const said = e.details.length === 1 && e.message.includes(e.details[0].reason);
    if (e.details.length && !said) {
      const ul = el("ul", "details");
      for (const d of e.details) ul.append(el("li", "", `${label(String(d.field), ids)}: ${d.reason}`));
      box.append(ul);
    }
    if (e.authorizeUrl && /^https?:\/\//.test(e.authorizeUrl)) {
      const a = el("a", "", "Connect that Zoom account");
      a.href = e.authorizeUrl;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      const p2 = el("p");
      p2.append(a);
      box.append(p2);
    }
    box.hidden = false;
  }

  // busy runs fn with btn disabled, shows what fails in box, and always
  // gives the button back.
  async function busy(btn, box, fn, ids) {
    if (btn.disabled) return;
    btn.disabled = true;
    btn.setAttribute("aria-busy", "true");
    if (box) clearError(box);
    try {
      await fn();
    } catch (err) {
      if (box) showError(box, err, typeof ids === "function" ? ids() : ids);
    } finally {
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
    }
  }

  // ---- the API ----

  async function api(method, path, body, token = state.token) {
    const headers = { accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
    } catch {
      throw new ApiError({ error: "The server could not be reached: check that it is running, then try again.", code: "network" });
    }
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (!res.ok || (data && data.success === false)) throw new ApiError(data, res.status);
    return data;
  }

  // ---- masking ----

  async function fingerprint(s) {
    if (!globalThis.crypto || !crypto.subtle) return "";
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
    return Array.from(new Uint8Array(digest).slice(0, 4)).map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  const MASK = "••••••••";

  // maskText is what a masked secret shows: its length and, once the digest
  // is done, its fingerprint; never its text.
  function maskText(secret, fp) {
    return `${MASK} ${secret.length} characters${fp ? `, fingerprint ${fp}` : ""}`;
  }

  // masked fills e with a token's length and fingerprint, never its text.
  function masked(e, secret) {
    e.textContent = maskText(secret, "");
    fingerprint(secret).then((fp) => {
      e.dataset.fingerprint = fp;
      if (e.dataset.shown !== "true" && fp) e.textContent = maskText(secret, fp);
    }, () => {});
    return e;
  }

  // ---- copying a secret ----

  // copyByHand copies text through a hidden, off-screen textarea and the old
  // execCommand: the way left where navigator.clipboard is missing (a page not
  // served from https or localhost). It must run while the click still counts,
  // so it is synchronous. The textarea's value is a property, never markup.
  function copyByHand(text) {
    const ta = el("textarea", "offscreen");
    ta.setAttribute("readonly", "");
    ta.setAttribute("aria-hidden", "true");
    ta.tabIndex = -1;
    ta.value = text;
    const focused = document.activeElement;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    ta.value = "";
    ta.remove();
    if (focused && focused.focus) focused.focus();
    return ok;
  }

  // copyText puts text on the clipboard: navigator.clipboard where the page
  // has it (a secure context), else copyByHand. It resolves to whether the
  // browser took it; nothing about the text is logged or kept.
  async function copyText(text) {
    if (!window.isSecureContext || !navigator.clipboard || !navigator.clipboard.writeText) return copyByHand(text);
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      return copyByHand(text);
    }
  }

  const COPY_REFUSED = "The browser refused to copy: copying needs the page on https or localhost. Use Show and copy it by hand.";

  // copyButton copies value() when clicked and says so in note for a moment
  // (a status region, so screen readers hear it). label is the button's
  // accessible name ("Copy the OBF token"), text its visible word.
  function copyButton(label, value, note, text = "Copy") {
    const b = el("button", "small copy", text);
    b.type = "button";
    b.setAttribute("aria-label", label);
    let timer = 0;
    b.addEventListener("click", async () => {
      const ok = await copyText(value());
      clearTimeout(timer);
      note.textContent = ok ? "Copied" : COPY_REFUSED;
      note.classList.toggle("bad", !ok);
      timer = setTimeout(() => { note.textContent = ""; }, ok ? 2000 : 8000);
    });
    return b;
  }

  // secretField shows secret masked, with a Show toggle that reveals it until
  // pressed again and a Copy button. cls names the masked span ("token",
  // "signature"); what names the value for screen readers.
  function secretField(secret, cls, what) {
    const box = el("span", "secret");
    box.dataset.secret = cls;
    const shown = masked(el("span", `masked ${cls}`), secret);
    const toggle = el("button", "small reveal", "Show");
    toggle.type = "button";
    toggle.setAttribute("aria-label", `Show ${what}`);
    toggle.addEventListener("click", () => {
      const on = shown.dataset.shown !== "true";
      shown.dataset.shown = String(on);
      shown.textContent = on ? secret : maskText(secret, shown.dataset.fingerprint || "");
      toggle.textContent = on ? "Hide" : "Show";
      toggle.setAttribute("aria-label", `${on ? "Hide" : "Show"} ${what}`);
    });
    const note = el("span", "copied");
    note.setAttribute("role", "status");
    box.append(shown, " ", toggle, copyButton(`Copy ${what}`, () => secret, note), " ", note);
    return box;
  }

  function when(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  // ---- a token as a card: what it is, masked, and its SDK bundle ----

  function pair(dl, term, value) {
    const dd = el("dd");
    if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
    dl.append(el("dt", "", term), dd);
  }

  function tokenCard(kind, body) {
    const card = el("div", "card");
    card.dataset.kind = kind;
    card.dataset.meeting = String(body.meetingId);
    const who = body.participantUserId || body.hostUserId || "";
    card.append(el("h3", "", `${kind} for meeting ${body.meetingId}${who ? ` · ${who}` : ""}`));
    const dl = el("dl");
    const tok = body.obfToken ?? body.zakToken ?? "";
    pair(dl, `${kind} token`, secretField(tok, "token", `the ${kind} token`));
    pair(dl, "minted via", body.via === "connection" ? "the user's own Zoom connection" : body.via === "account" ? "the server's account app" : String(body.via ?? "—"));
    pair(dl, "expires", `${when(body.expiresAt)} (in ${body.expiresIn})`);
    if (body.delivered !== undefined) pair(dl, "pushed to a socket", body.delivered ? "yes" : "no: no socket of that user was open");
    card.append(dl);
    const sdk = el("div", "sdk");
    if (body.sdk) {
      const bundle = JSON.stringify(body.sdk, null, 2);
      const note = el("span", "copied");
      note.setAttribute("role", "status");
      const actions = el("p", "actions");
      actions.append(copyButton("Copy as JSON: the Meeting SDK bundle", () => bundle, note, "Copy as JSON"), " ", note);
      sdk.append(el("h4", "", "Meeting SDK bundle"), actions);
      const s = el("dl");
      pair(s, "signature", secretField(body.sdk.signature, "signature", "the SDK signature"));
      pair(s, "sdkKey", el("code", "sdk-key", body.sdk.sdkKey));
      pair(s, "meetingNumber", el("code", "sdk-meeting", body.sdk.meetingNumber));
      pair(s, "role", el("code", "sdk-role", `${body.sdk.role} (${body.sdk.role === 1 ? "host" : "attendee"})`));
      sdk.append(s);
    } else {
      sdk.append(el("p", "note", "No SDK bundle: the server has no Meeting SDK credentials (ZOOM_SDK_KEY, ZOOM_SDK_SECRET)."));
    }
    card.append(sdk);
    return card;
  }

  // ---- sign in and out ----

  function refusal(err) {
    const data = err && err.data;
    const why = data && data.message ? data.message : "";
    if (err && err.message === "unauthorized") {
      return new ApiError({ error: why ? `The server refused this token: ${why}` : "The server refused this token: check it, or get a new one.", code: "unauthorized" });
    }
    if (data && data.code) return new ApiError({ error: why || err.message, code: data.code });
    return new ApiError({ error: "The server could not be reached over Socket.IO: check that it is running, then try again.", code: "network" });
  }

  async function signIn(token) {
    token = token.trim();
    if (!token) throw new ApiError({ error: "Paste a caller token first.", code: "invalid_request" });
    if (typeof io !== "function") {
      throw new ApiError({ error: "This server was built without its npm assets: run make node-deps and rebuild.", code: "assets_missing" });
    }
    closeSocket();
    setStatus("signin-status", "Signing in…");
    // Websocket first, long polling only if the websocket fails: no upgrade
    // from polling, whose path in socket.io/v2's engine.io races when the
    // client leaves mid-upgrade (as this page does when it signs in again).
    const socket = io({ auth: { token }, reconnectionDelayMax: 10000, transports: ["websocket", "polling"], tryAllTransports: true });
    let me;
    try {
      me = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new ApiError({ error: "The server did not answer the sign-in within 15 seconds; try again.", code: "timeout" })), SIGN_IN_TIMEOUT_MS);
        socket.once("authenticated", (a) => { clearTimeout(timer); resolve(a); });
        socket.once("connect_error", (err) => { clearTimeout(timer); reject(refusal(err)); });
      });
    } catch (err) {
      socket.disconnect();
      setStatus("signin-status", "");
      throw err;
    }
    state.token = token;
    state.socket = socket;
    state.me = { userId: me.userId, role: me.role };
    sessionStorage.setItem(STORAGE_KEY, token);
    $("token").value = "";
    watch(socket);
    signedIn();
  }

  function closeSocket() {
    if (state.socket) {
      state.socket.removeAllListeners();
      state.socket.disconnect();
      state.socket = null;
    }
  }

  function signOut(reason) {
    closeSocket();
    sessionStorage.removeItem(STORAGE_KEY);
    state.token = null;
    state.me = null;
    state.dist = null;
    state.received = 0;
    delete document.body.dataset.role;
    $("inbox-list").replaceChildren();
    $("start-result").replaceChildren();
    show($("start-result"), false);
    show($("dist-result"), false);
    show($("dist-progress-box"), false);
    for (const id of ["conn-error", "start-error", "dist-error"]) clearError($(id));
    for (const id of ["session", "connections", "start", "distribute", "inbox"]) show($(id), false);
    show($("signin"), true);
    setStatus("signin-status", reason || "");
  }

  function signedIn() {
    const { userId, role } = state.me;
    $("me-user").textContent = userId;
    $("me-role").textContent = role;
    document.body.dataset.role = role; // a participant's tokens come first
    $("socket-state").value = "connected";
    show($("signin"), false);
    clearError($("signin-error"));
    setStatus("signin-status", "");
    show($("session"), true);
    show($("connections"), true);
    show($("inbox"), true);
    const hosts = role === "host" || role === "admin";
    for (const id of ["start", "distribute"]) show($(id), hosts);
    $("start-host").value = userId;
    $("dist-host").value = userId;
    setStatus("inbox-status", `Waiting for tokens for ${userId}…`);
    loadConnections();
  }

  // watch follows the signed-in socket: its state, and what the server pushes.
  function watch(socket) {
    const st = $("socket-state");
    socket.on("connect", () => { st.value = "connected"; });
    socket.on("authenticated", () => { st.value = "connected"; });
    socket.on("disconnect", (reason) => {
      if (reason === "io server disconnect") {
        signOut("The server closed this session (the token may have expired): sign in again.");
        return;
      }
      if (reason !== "io client disconnect") st.value = `reconnecting (${reason})`;
    });
    socket.on("connect_error", (err) => {
      if (err && err.message === "unauthorized") {
        signOut(`${refusal(err).message} Sign in again.`);
        return;
      }
      st.value = "reconnecting (the server cannot be reached)";
    });
    socket.on("error", (e) => { st.value = `error: ${e && e.message ? e.message : "unknown"}${e && e.code ? ` (${e.code})` : ""}`; });
    socket.on("meeting:credentials", (c) => received("OBF", c));
    socket.on("meeting:started", (c) => received("ZAK", c));
    socket.on("meeting:progress", progress);
    socket.on("meeting:distributed", (d) => { if (!state.dist) renderDistributed(d); });
    socket.on("connection:changed", (c) => {
      // The page's own Disconnect says what it did; the push of it adds nothing.
      if (state.disconnecting && c.status !== "connected") return;
      loadConnections(`Your Zoom connection is now ${c.status}${c.reason ? ` (${c.reason})` : ""}.`);
    });
  }

  function received(kind, body) {
    state.received++;
    const li = el("li");
    li.append(tokenCard(kind, body));
    $("inbox-list").prepend(li);
    setStatus("inbox-status", `Received ${state.received} token${state.received === 1 ? "" : "s"}; waiting for more for ${state.me ? state.me.userId : "you"}…`);
  }

  // ---- connections ----

  // loadConnections shows the connections; note, when given, is the status
  // line to show after them (what just happened) instead of a summary.
  async function loadConnections(note) {
    const box = $("conn-error");
    clearError(box);
    let body;
    try {
      body = await api("GET", "/api/connections");
    } catch (err) {
      show($("conn-table"), false);
      if (err.status === 404) {
        setStatus("conn-status", "Users' Zoom connections are not configured on this server (no General app).");
        show($("conn-connect"), false);
        return;
      }
      showError(box, err);
      return;
    }
    show($("conn-connect"), true);
    const list = body.connections || [];
    const tbody = $("conn-table").querySelector("tbody");
    tbody.replaceChildren();
    for (const c of list) {
      const tr = el("tr");
      tr.dataset.sub = c.sub;
      const status = c.status + (c.reason ? `: ${c.reason}` : "");
      for (const v of [c.sub, c.zoomUserId, c.email, c.accountId, status, c.connectedAt ? when(c.connectedAt) : "—", c.refreshedAt ? when(c.refreshedAt) : "—"]) {
        tr.append(el("td", "", v ?? "—"));
      }
      const td = el("td");
      const del = el("button", "small", "Disconnect");
      del.type = "button";
      del.addEventListener("click", () => busy(del, box, async () => {
        state.disconnecting = true;
        try {
          await api("DELETE", `/api/connections/${encodeURIComponent(c.sub)}`);
          await loadConnections(`Disconnected ${c.sub}: its Zoom grant was revoked and forgotten.`);
        } finally {
          setTimeout(() => { state.disconnecting = false; }, 2000);
        }
      }));
      td.append(del);
      tr.append(td);
      tbody.append(tr);
    }
    show($("conn-table"), list.length > 0);
    const mine = list.find((c) => state.me && c.sub === state.me.userId);
    if (note) setStatus("conn-status", note);
    else if (!list.length) setStatus("conn-status", "No Zoom connection yet.");
    else if (mine) setStatus("conn-status", mine.status === "connected" ? `Connected as ${mine.email}.` : `Your connection is ${mine.status}: connect again.`);
    else setStatus("conn-status", `${list.length} connection${list.length === 1 ? "" : "s"}.`);
  }

  function connectAccount() {
    // Open the window now, while the click still counts, so no popup blocker stops it.
    const win = window.open("about:blank", "zoom-connect");
    return busy($("conn-connect"), $("conn-error"), async () => {
      try {
        const body = await api("GET", "/api/connections/zoom/authorize");
        if (!/^https?:\/\//.test(body.authorizeUrl)) throw new ApiError({ error: "The server answered an authorize link that is not a web address.", code: "page_error" });
        setStatus("conn-status", "Waiting for Zoom's consent in the other window… this list refreshes when you come back.");
        if (win) win.location.href = body.authorizeUrl;
        else setStatus("conn-status", "The browser blocked the consent window: allow pop-ups for this page and try again.");
      } catch (err) {
        if (win) win.close();
        throw err;
      }
    });
  }

  // ---- start ----

  function startMeeting() {
    const box = $("start-error");
    return busy($("start-btn"), box, async () => {
      show($("start-result"), false);
      const body = await api("POST", "/api/meetings/start", {
        meetingId: $("start-meeting").value.trim(),
        hostUserId: $("start-host").value.trim(),
      });
      $("start-result").replaceChildren(tokenCard("ZAK", body));
      show($("start-result"), true);
    });
  }

  // ---- distribute ----

  function userIds() {
    return $("dist-users").value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
  }

  function progress(p) {
    if (!state.dist || !p || String(p.meetingId) !== state.dist.meetingId) return;
    const bar = $("dist-progress");
    bar.max = Math.max(1, Number(p.total) || 1);
    bar.value = Math.min(bar.max, Number(p.done) || 0);
    $("dist-progress-text").value = `${p.done} of ${p.total} done${p.failed ? `, ${p.failed} failed` : ""}`;
  }

  function distribute() {
    let ids = [];
    return busy($("dist-btn"), $("dist-error"), async () => {
      ids = userIds();
      const socket = state.socket;
      if (!socket || !socket.connected) {
        throw new ApiError({ error: "The socket is not connected (it is reconnecting): wait a moment and try again.", code: "not_connected_socket" });
      }
      const meetingId = $("dist-meeting").value.trim();
      show($("dist-result"), false);
      const bar = $("dist-progress");
      bar.removeAttribute("value"); // indeterminate until the first meeting:progress
      $("dist-progress-text").value = `minting ${ids.length} token${ids.length === 1 ? "" : "s"}…`;
      show($("dist-progress-box"), true);
      state.dist = { meetingId };
      let res;
      try {
        res = await socket.timeout(DISTRIBUTE_TIMEOUT_MS).emitWithAck("meeting:distribute", {
          meetingId, hostUserId: $("dist-host").value.trim(), participantUserIds: ids,
        });
      } catch {
        throw new ApiError({ error: "The server did not answer within 2 minutes; some tokens may have been minted and pushed all the same.", code: "timeout" });
      } finally {
        state.dist = null;
        show($("dist-progress-box"), false);
      }
      if (!res || res.success === false) throw new ApiError(res, 0);
      renderDistributed(res);
    }, () => ids);
  }

  function renderDistributed(d) {
    const delivered = d.delivered || [];
    const offline = d.offline || [];
    const failed = d.failedUsers || [];
    const summary = $("dist-summary");
    summary.replaceChildren(
      el("li", "minted", `Minted: ${d.successful} of ${d.successful + d.failed}`),
      el("li", "delivered ok", `Delivered (online): ${delivered.length}`),
      el("li", "offline warn", `Offline, minted but not delivered: ${offline.length}`),
      el("li", "failed bad", `Failed: ${d.failed}`),
    );
    summary.dataset.minted = String(d.successful);
    summary.dataset.delivered = String(delivered.length);
    summary.dataset.offline = String(offline.length);
    summary.dataset.failed = String(d.failed);
    const tbody = $("dist-table").querySelector("tbody");
    tbody.replaceChildren();
    const row = (user, outcome, cls, code, why) => {
      const tr = el("tr", cls);
      tr.dataset.user = user;
      tr.dataset.outcome = outcome;
      tr.append(el("td", "", user), el("td", "outcome", outcome), el("td", "", code), el("td", "", why));
      tbody.append(tr);
    };
    for (const u of delivered) row(u, "delivered", "ok", "", "online: pushed to the user's open socket");
    for (const u of offline) row(u, "offline", "warn", "", "minted, but no socket of this user was open: nothing was delivered");
    for (const f of failed) row(f.userId, "failed", "bad", f.code, f.error);
    show($("dist-result"), true);
  }

  // ---- the server's mode ----

  async function loadMode() {
    try {
      const info = await api("GET", "/", undefined, null);
      const m = $("mode");
      if (info.mode === "sandbox") {
        m.textContent = info.warning || "Sandbox mode: tokens are not real Zoom tokens.";
        m.classList.add("sandbox");
        show($("sandbox-form"), true);
      } else {
        m.textContent = `Zoom mode · version ${info.version}`;
      }
      show(m, true);
    } catch {
      // The page works without it: the sandbox form stays hidden.
    }
  }

  // ---- wiring ----

  function wire() {
    if (typeof io !== "function") show($("assets-missing"), true);

    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy($("signin-btn"), $("signin-error"), () => signIn($("token").value));
    });
    $("sandbox-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy($("sb-btn"), $("signin-error"), async () => {
        const body = await api("POST", "/sandbox/tokens", { sub: $("sb-user").value.trim(), role: $("sb-role").value }, null);
        await signIn(body.token);
      });
    });
    $("signout-btn").addEventListener("click", () => signOut("Signed out."));
    $("conn-refresh").addEventListener("click", () => busy($("conn-refresh"), null, loadConnections));
    $("conn-connect").addEventListener("click", connectAccount);
    $("start-form").addEventListener("submit", (ev) => { ev.preventDefault(); startMeeting(); });
    $("dist-form").addEventListener("submit", (ev) => { ev.preventDefault(); distribute(); });
    window.addEventListener("focus", () => { if (state.token) loadConnections(); });

    loadMode();
    const saved = sessionStorage.getItem(STORAGE_KEY);
    if (saved) {
      busy($("signin-btn"), $("signin-error"), async () => {
        try {
          await signIn(saved);
        } catch (err) {
          sessionStorage.removeItem(STORAGE_KEY);
          throw err;
        }
      });
    }
  }

  wire();
})();
