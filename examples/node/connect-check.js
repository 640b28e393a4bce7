// Drives the connect flow (a user's own Zoom grant) in headless Chromium
// against a sandbox-mode server, and prints one JSON line with what the
// pages showed:
//   allow:  the page follows GET /api/connections/zoom/authorize with the
//           caller's token, the sandbox's consent page shows, #allow is
//           clicked, and the callback page answers;
//   deny:   the same with #deny;
//   replay: the used callback URL of the allow run, opened again;
//   demo:   the browser example's "Connect Zoom account" button, allowed in
//           its popup, then the example's status.
//
//   TOKEN_SERVER_URL=http://localhost:3000 node connect-check.js
// CHROMIUM: the browser binary (default /usr/bin/chromium). SHOT_DIR: where
// to write a screenshot of each page (none if unset). CONNECT_USER and
// DEMO_USER: the Zoom users to sign in as (defaults in the sandbox's partner account).
import { chromium } from "playwright-core";

const url = process.env.TOKEN_SERVER_URL || process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`;
const shotDir = process.env.SHOT_DIR;
const user = process.env.CONNECT_USER ?? "ann@partner.example";
const demoUser = process.env.DEMO_USER ?? "dan@partner.example";
const shots = [];

async function shot(page, name) {
  if (!shotDir) return;
  const path = `${shotDir}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

async function callerToken(sub) {
  const res = await fetch(`${url}/sandbox/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub, role: "participant" }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`POST /sandbox/tokens: ${res.status} ${body.code}`);
  return body.token;
}

// shown is what a callback page says; for anything but that page, its text.
async function shown(page) {
  await page.waitForLoadState();
  if (!(await page.$("#title"))) return { url: page.url(), title: "", message: (await page.textContent("body")).slice(0, 300) };
  return { url: page.url(), title: await page.textContent("#title"), message: await page.textContent("#message") };
}

// consent opens the authorize route as a browser does (Accept: text/html,
// so a 302), the caller's token added to that request only, and answers
// the consent page.
async function consentPage(context, token) {
  const page = await context.newPage();
  await page.route(`${url}/api/connections/zoom/authorize*`, (route) =>
    route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${token}` } }));
  await page.goto(`${url}/api/connections/zoom/authorize`);
  await page.waitForSelector("#allow", { timeout: 15000 });
  return page;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const errors = [];
try {
  const context = await browser.newContext();
  context.on("page", (p) => p.on("pageerror", (e) => errors.push(String(e))));
  const token = await callerToken(user);

  // Allow.
  let page = await consentPage(context, token);
  const consent = { url: page.url(), user: await page.inputValue('input[name="user"]'), hasDeny: (await page.$("#deny")) !== null };
  await shot(page, "1-consent");
  await page.fill('input[name="user"]', user);
  await Promise.all([page.waitForURL(/\/api\/connections\/zoom\/callback/, { timeout: 15000 }), page.click("#allow")]);
  const allow = await shown(page);
  await shot(page, "2-allowed");

  // Deny.
  const denyPage = await consentPage(context, token);
  await Promise.all([denyPage.waitForURL(/\/api\/connections\/zoom\/callback/, { timeout: 15000 }), denyPage.click("#deny")]);
  const deny = await shown(denyPage);
  await shot(denyPage, "3-denied");

  // The allow run's callback URL again: its state was used.
  await page.goto(allow.url);
  const replay = await shown(page);
  await shot(page, "4-replayed");

  // The browser example's button.
  const demo = await context.newPage();
  await demo.goto(`${url}/examples/browser/`);
  await demo.fill("#z-user", demoUser);
  const [popup] = await Promise.all([demo.waitForEvent("popup", { timeout: 15000 }), demo.click("#z-connect")]);
  await popup.waitForSelector("#allow", { timeout: 15000 });
  await popup.fill('input[name="user"]', demoUser);
  await Promise.all([popup.waitForURL(/\/api\/connections\/zoom\/callback/, { timeout: 15000 }), popup.click("#allow")]);
  const demoCallback = await shown(popup);
  await shot(popup, "5-demo-callback");
  await demo.click("#z-check");
  await demo.waitForFunction(() => document.getElementById("z-status").value.startsWith("connected"), null, { timeout: 15000 })
    .catch(() => {});
  const demoStatus = await demo.$eval("#z-status", (o) => o.value);
  await shot(demo, "6-demo-status");

  console.log(JSON.stringify({ ok: true, consent, allow, deny, replay, demo: { callback: demoCallback, status: demoStatus }, shots, errors }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err), shots, errors }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
