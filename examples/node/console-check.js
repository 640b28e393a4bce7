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

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const hostCtx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const partCtx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  hostCtx.on("page", (p) => watch(p, "popup"));
  const hp = await hostCtx.newPage();
  const pp = await partCtx.newPage();
  watch(hp, "host");
  watch(pp, "participant");

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
  await hp.click("#start-btn");
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
    received, connection, afterReload, disconnected, leaks, signedOut, shots, errors, consoleMessages }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err), shots, errors, consoleMessages }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
