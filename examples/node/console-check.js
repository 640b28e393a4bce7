// Drives the console (/console/) in headless Chromium against a sandbox-mode
// server, and prints one JSON line with what the pages showed:
//   signinError: a bad user id in the sandbox sign-in, the sentence shown and
//                whether the button is usable again;
//   participant: a participant signs in on a second page and waits;
//   start:       the host starts a meeting (ZAK card, SDK bundle);
//   distError:   a distribute with a bad user id (sentence, button state);
//   distributed: a distribute to PARTICIPANTS (the waiting participant, an
//                offline user, one that cannot be minted for);
//   received:    the participant page's card for its OBF;
//   connection:  the host connects its Zoom account through the consent
//                window, and the connections table after;
//   afterReload: who is signed in after the host's page reloads;
//   disconnected: the status after the host's Disconnect;
//   copies:      Copy and Show on the host's ZAK (by the fallback, the page
//                without navigator.clipboard) and SDK signature, and on the
//                participant's pushed OBF and its SDK bundle as JSON: whether
//                the clipboard then held the value the server sent (learnt
//                from the REST answer and the socket's frames), whether the
//                value was anywhere in the page before Show, in storage or
//                the URL; never the values themselves;
//   leaks:       where the caller token was found (URL, localStorage), and
//                every console message of the pages.
//
//   TOKEN_SERVER_URL=http://localhost:3000 node console-check.js
// CHROMIUM: the browser binary (default /usr/bin/chromium). SHOT_DIR: where
// to write a screenshot of each step (none if unset).
import { chromium } from "playwright-core";

const url = process.env.TOKEN_SERVER_URL || process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`;
const shotDir = process.env.SHOT_DIR;
const host = process.env.HOST_USER ?? "host@example.com";
const participant = process.env.PARTICIPANT_USER ?? "participant@example.com";
const offline = process.env.OFFLINE_USER ?? "offline@example.com";
const unmintable = process.env.FAILED_USER ?? "nobody@partner.example";
const meeting = process.env.MEETING ?? "85746065432";
const timeout = 20000;
const shots = [];
const errors = [];
const consoleMessages = [];

async function shot(page, name) {
  if (!shotDir) return;
  const path = `${shotDir}/console-${name}.png`;
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

async function waitVisible(page, sel) {
  await page.waitForFunction((s) => { const e = document.querySelector(s); return e && !e.hidden && e.offsetParent !== null; }, sel, { timeout });
}

async function signInSandbox(page, user, role) {
  await page.fill("#sb-user", user);
  await page.selectOption("#sb-role", role);
  await page.click("#sb-btn");
}

function watch(page, name) {
  page.on("pageerror", (e) => errors.push(`${name}: ${e}`));
  page.on("console", (m) => consoleMessages.push({ page: name, type: m.type(), text: m.text() }));
}

// pushedFrames collects what the server pushes to page's sockets as
// [event, body] pairs, read from the websocket's frames.
function pushedFrames(page) {
  const pushed = [];
  page.on("websocket", (ws) => ws.on("framereceived", ({ payload }) => {
    if (typeof payload !== "string" || !payload.startsWith("42[")) return;
    try { pushed.push(JSON.parse(payload.slice(2))); } catch { /* not an event */ }
  }));
  return pushed;
}

// inPage says where secret is in page: its markup or text, storage, URL.
function inPage(page, secret) {
  return page.evaluate((s) => ({
    inDOM: document.documentElement.outerHTML.includes(s) || document.body.innerText.includes(s),
    inStorage: [sessionStorage, localStorage].some((st) => Object.keys(st).some((k) => String(st.getItem(k)).includes(s))),
    inURL: location.href.includes(s),
  }), secret);
}

// copyCheck clicks the Copy button in the element at sel and reads the
// clipboard back. With byHand the page first loses navigator.clipboard (as on
// a non-secure origin), so only the page's fallback can copy.
async function copyCheck(page, sel, want, byHand) {
  await page.evaluate(() => navigator.clipboard.writeText("nothing copied yet"));
  await page.evaluate((hide) => {
    window.copyEvents = 0;
    document.addEventListener("copy", () => { window.copyEvents++; });
    if (hide) Object.defineProperty(navigator, "clipboard", { value: undefined, configurable: true });
  }, byHand);
  const button = await page.$(`${sel} button.copy`);
  if (!button) throw new Error(`no Copy button in ${sel}`);
  const label = await button.getAttribute("aria-label");
  await button.click();
  await page.waitForFunction((s) => document.querySelector(`${s} .copied`).textContent !== "", sel, { timeout });
  const note = await page.textContent(`${sel} .copied`);
  const byExecCommand = await page.evaluate(() => { delete navigator.clipboard; return window.copyEvents > 0; });
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  return { label, note, byExecCommand, matches: typeof want === "function" ? want(copied) : copied === want };
}

// secretCheck: the secret at sel is nowhere in the page until Show, Show
// reveals exactly it, Hide masks it again; and Copy copies it.
async function secretCheck(page, sel, secret, byHand) {
  const before = await inPage(page, secret);
  const copy = await copyCheck(page, sel, secret, byHand);
  const afterCopy = await inPage(page, secret);
  const reveal = `${sel} button.reveal`;
  const showLabel = await page.getAttribute(reveal, "aria-label");
  await page.click(reveal);
  const shown = (await page.textContent(`${sel} .masked`)) === secret;
  const hideLabel = await page.getAttribute(reveal, "aria-label");
  await page.click(reveal);
  const hidden = await page.textContent(`${sel} .masked`);
  const after = await inPage(page, secret);
  return { ...copy, before, afterCopy, showLabel, shown, hideLabel, maskedAgain: hidden.startsWith("•••") && !after.inDOM,
    length: secret.length };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const hostCtx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const partCtx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const origin = new URL(url).origin;
  for (const ctx of [hostCtx, partCtx]) await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  hostCtx.on("page", (p) => watch(p, "popup"));
  const hp = await hostCtx.newPage();
  const pp = await partCtx.newPage();
  watch(hp, "host");
  watch(pp, "participant");
  const pushed = pushedFrames(pp);

  // The sign-in page, then a bad user id.
  await hp.goto(`${url}/console/`);
  await waitVisible(hp, "#sandbox-form");
  const mode = await hp.textContent("#mode");
  await shot(hp, "1-signin");
  await signInSandbox(hp, "not a user id", "host");
  await waitVisible(hp, "#signin-error");
  await hp.waitForFunction(() => !document.getElementById("sb-btn").disabled, null, { timeout });
  const signinError = {
    text: await hp.textContent("#signin-error"),
    buttonDisabled: await hp.$eval("#sb-btn", (b) => b.disabled),
  };
  await shot(hp, "2-signin-error");

  // The host signs in.
  await signInSandbox(hp, host, "host");
  await waitVisible(hp, "#session");
  const hostSession = { user: await hp.textContent("#me-user"), role: await hp.textContent("#me-role") };

  // The participant signs in on its own page and waits.
  await pp.goto(`${url}/console/`);
  await waitVisible(pp, "#sandbox-form");
  await signInSandbox(pp, participant, "participant");
  await waitVisible(pp, "#inbox");
  const participantView = {
    status: await pp.textContent("#inbox-status"),
    hostSectionsHidden: await pp.$eval("#start", (e) => e.hidden) && await pp.$eval("#distribute", (e) => e.hidden),
  };
  await shot(pp, "3-participant-waiting");

  // Start: a ZAK and its SDK bundle.
  await hp.fill("#start-meeting", meeting);
  const [startAnswer] = await Promise.all([
    hp.waitForResponse((r) => r.url().endsWith("/api/meetings/start") && r.request().method() === "POST", { timeout }),
    hp.click("#start-btn"),
  ]);
  const started = await startAnswer.json();
  await waitVisible(hp, "#start-result .card");
  const start = {
    title: await hp.textContent("#start-result h3"),
    token: await hp.textContent("#start-result .masked.token"),
    signature: await hp.textContent("#start-result .masked.signature"),
    sdkKey: await hp.textContent("#start-result .sdk-key"),
    meetingNumber: await hp.textContent("#start-result .sdk-meeting"),
    role: await hp.textContent("#start-result .sdk-role"),
  };
  await shot(hp, "4-started");
  const copies = {
    zak: await secretCheck(hp, "#start-result .secret[data-secret=token]", started.zakToken, true),
    signature: await secretCheck(hp, "#start-result .secret[data-secret=signature]", started.sdk.signature, false),
  };

  // Distribute with a bad user id: refused as a whole, the button usable again.
  await hp.fill("#dist-meeting", meeting);
  await hp.fill("#dist-users", `${participant}\nnot a user id`);
  await hp.click("#dist-btn");
  await waitVisible(hp, "#dist-error");
  await hp.waitForFunction(() => !document.getElementById("dist-btn").disabled, null, { timeout });
  const distError = { text: await hp.textContent("#dist-error"), buttonDisabled: await hp.$eval("#dist-btn", (b) => b.disabled) };
  await shot(hp, "5-distribute-error");

  // Distribute: one online, one offline, one that cannot be minted for.
  await hp.fill("#dist-users", [participant, offline, unmintable].join("\n"));
  await hp.click("#dist-btn");
  await waitVisible(hp, "#dist-result");
  const distributed = {
    errorHidden: await hp.$eval("#dist-error", (e) => e.hidden),
    summary: await hp.$eval("#dist-summary", (e) => ({ ...e.dataset, text: e.textContent })),
    rows: await hp.$$eval("#dist-table tbody tr", (trs) => trs.map((tr) => ({
      user: tr.dataset.user, outcome: tr.dataset.outcome, cells: Array.from(tr.cells).map((c) => c.textContent),
    }))),
  };
  await shot(hp, "6-distributed");

  // The participant's page shows its OBF, masked, and its SDK bundle.
  await pp.waitForSelector("#inbox-list .card[data-kind=OBF]", { timeout });
  const received = {
    status: await pp.textContent("#inbox-status"),
    title: await pp.textContent("#inbox-list .card h3"),
    token: await pp.textContent("#inbox-list .masked.token"),
    signature: await pp.textContent("#inbox-list .masked.signature"),
    sdkKey: await pp.textContent("#inbox-list .sdk-key"),
    meetingNumber: await pp.textContent("#inbox-list .sdk-meeting"),
    role: await pp.textContent("#inbox-list .sdk-role"),
    text: await pp.textContent("#inbox-list"),
  };
  await shot(pp, "7-participant-received");
  const credentials = pushed.find(([event]) => event === "meeting:credentials");
  if (!credentials) throw new Error("no meeting:credentials frame seen on the participant's socket");
  const obf = credentials[1];
  copies.obf = await secretCheck(pp, "#inbox-list .secret[data-secret=token]", obf.obfToken, false);
  copies.sdkJSON = await copyCheck(pp, "#inbox-list .sdk .actions", (text) => {
    try { return JSON.stringify(JSON.parse(text)) === JSON.stringify(obf.sdk); } catch { return false; }
  }, false);
  copies.sdkJSON.before = await inPage(pp, obf.sdk.signature);

  // Connect the host's Zoom account: the consent window, Allow, the table.
  const [popup] = await Promise.all([hp.waitForEvent("popup", { timeout }), hp.click("#conn-connect")]);
  await popup.waitForSelector("#allow", { timeout });
  await popup.fill('input[name="user"]', host);
  await Promise.all([popup.waitForURL(/\/api\/connections\/zoom\/callback/, { timeout }), popup.click("#allow")]);
  const callbackTitle = await popup.textContent("#title");
  await popup.close();
  await hp.click("#conn-refresh");
  await hp.waitForSelector(`#conn-table tbody tr[data-sub="${host}"]`, { timeout });
  const connection = {
    callbackTitle,
    status: await hp.textContent("#conn-status"),
    row: await hp.$eval(`#conn-table tbody tr[data-sub="${host}"]`, (tr) => Array.from(tr.cells).map((c) => c.textContent)),
  };
  await shot(hp, "8-connected");

  // A reload in the same tab keeps the session (sessionStorage).
  await hp.reload();
  await waitVisible(hp, "#session");
  const afterReload = await hp.textContent("#me-user");

  // Disconnect revokes the connection: the row goes.
  await hp.waitForSelector(`#conn-table tbody tr[data-sub="${host}"] button`, { timeout });
  await hp.click(`#conn-table tbody tr[data-sub="${host}"] button`);
  await hp.waitForFunction((h) => !document.querySelector(`#conn-table tbody tr[data-sub="${h}"]`), host, { timeout });
  const disconnected = await hp.textContent("#conn-status");

  // Where the caller token is: sessionStorage only.
  const leaks = {};
  for (const [name, page] of [["host", hp], ["participant", pp]]) {
    leaks[name] = await page.evaluate(() => {
      const token = sessionStorage.getItem("tokenserver.console.callerToken") || "";
      return {
        inSession: token.length > 0,
        inURL: token.length > 0 && location.href.includes(token),
        inLocalStorage: localStorage.length,
        inDOM: token.length > 0 && document.documentElement.outerHTML.includes(token),
      };
    });
  }

  // Signing out forgets the token.
  await hp.click("#signout-btn");
  await waitVisible(hp, "#signin");
  const signedOut = await hp.evaluate(() => sessionStorage.length);

  console.log(JSON.stringify({ ok: true, mode, signinError, hostSession, participantView, start, distError, distributed,
    received, copies, connection, afterReload, disconnected, leaks, signedOut, shots, errors, consoleMessages }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err), shots, errors, consoleMessages }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
