// Example Socket.IO clients of the Zoom token server, with socket.io-client 4.
//
//   node client.js participant   waits for its OBF token (meeting:credentials)
//   node client.js host          distributes OBF tokens to participants (meeting:distribute)
//   node client.js bot           gets USER_ID's OBF and SDK bundle (meeting:join), then joins the meeting
//                                on that user's behalf as a Meeting SDK app would (see "Joining" below)
//
// Environment:
//   TOKEN_SERVER_URL  the token server (default http://localhost:$PORT, PORT 3000; SERVER_URL is read too)
//   USER_ID       the Zoom user id or email this client acts as
//                 (default participant@example.com / host@example.com)
//   TOKEN         caller JWT or API key; default: asked of POST /sandbox/tokens (sandbox mode)
//   TRANSPORT     websocket or polling; default: socket.io-client's own (polling, then upgrade)
//   MEETING_ID    meeting number (default 85746065432, which sandbox mode makes at start, hosted by host@example.com)
//   PARTICIPANTS  host: comma-separated user ids to distribute to
//   EXPECT        participant: how many tokens to wait for before leaving (default 1)
//   WAIT_MS       give up after this long (default 30000; bot: 300000, time to put its user in the meeting)
//   BOT_NAME      bot: its name in the meeting, the SDK's userName (default "Token server example bot")
//   JOIN_EVERY_MS bot: pause between join attempts while USER_ID is not in the meeting (default 3000)
//
// Joining: in sandbox mode the bot sends the bundle to the sandbox's judge (POST /sandbox/sdk/join), a
// stand-in for the Meeting SDK's join: no real meeting is joined. An OBF joins only while its user is in the
// meeting, so while the judge answers 65535 "authorized user not in meeting" the bot tries again with a fresh
// OBF (an OBF is single use), as bots do; in the sandbox a user is put in a meeting with
// POST /sandbox/meetings/{number}/participants {"user": …}, which the bot prints. Against real Zoom it prints
// the parameters of ZoomMtg.join and does not join.
//
// Every line printed is one JSON object. Tokens are never printed: a
// participant prints a SHA-256 fingerprint of what it received.
import { createHash } from "node:crypto";
import { io } from "socket.io-client";

const role = process.argv[2] ?? "participant";
const url = process.env.TOKEN_SERVER_URL || process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`;
const userId = process.env.USER_ID ?? (role === "bot" ? "participant@example.com" : `${role}@example.com`);
const transport = process.env.TRANSPORT;
const meetingId = process.env.MEETING_ID ?? "85746065432";
const expect = Number(process.env.EXPECT ?? 1);
const waitMs = Number(process.env.WAIT_MS ?? (role === "bot" ? 300000 : 30000));

const say = (obj) => console.log(JSON.stringify(obj));
const fingerprint = (t) => createHash("sha256").update(t).digest("hex").slice(0, 16);

async function callerToken() {
  if (process.env.TOKEN) return process.env.TOKEN;
  const res = await fetch(`${url}/sandbox/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub: userId, role: role === "host" ? "host" : "participant" }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`POST /sandbox/tokens: ${res.status} ${body.code}: ${body.error}`);
  return body.token;
}

async function main() {
  const token = await callerToken();
  // Reconnection stays on (the default): a websocket-only client can, rarely, lose its first CONNECT to a race in
  // the server's engine.io; the server closes such a connection after 10 s and the client connects again.
  const options = { auth: { token }, timeout: 10000 };
  if (transport) options.transports = [transport];
  const socket = io(url, options);
  const timer = setTimeout(() => {
    say({ event: "timeout", userId, received });
    socket.close();
    process.exit(role === "participant" && expect === 0 ? 0 : 2);
  }, waitMs);
  let received = 0;

  socket.on("connect_error", (err) => {
    say({ event: "connect_error", message: err.message, data: err.data });
    process.exit(1);
  });
  socket.on("error", (e) => say({ event: "error", code: e.code, message: e.message }));

  socket.on("meeting:credentials", (c) => {
    received++;
    say({ event: "credentials", userId: c.participantUserId, meetingId: c.meetingId, expiresIn: c.expiresIn,
      fingerprint: fingerprint(c.obfToken), transport: socket.io.engine.transport.name });
    if (role === "participant" && received >= expect) finish(0);
  });
  socket.on("meeting:started", (s) => {
    say({ event: "started", userId: s.hostUserId, meetingId: s.meetingId, fingerprint: fingerprint(s.zakToken) });
  });

  socket.on("authenticated", async (a) => {
    say({ event: "ready", userId: a.userId, role: a.role, transport: socket.io.engine.transport.name });
    if (role === "bot") {
      try {
        finish(await joinMeeting(socket));
      } catch (err) {
        say({ event: "fatal", message: String(err.message ?? err) });
        finish(1);
      }
      return;
    }
    if (role !== "host") return;
    const participants = (process.env.PARTICIPANTS ?? "participant@example.com").split(",").map((s) => s.trim()).filter(Boolean);
    const result = await socket.timeout(waitMs).emitWithAck("meeting:distribute", { meetingId, hostUserId: userId, participantUserIds: participants });
    say({ event: "distributed", success: result.success, code: result.code, error: result.error, successful: result.successful,
      failed: result.failed, delivered: result.delivered, offline: result.offline });
    finish(result.success ? 0 : 1);
  });

  function finish(code) {
    clearTimeout(timer);
    say({ event: "done", userId, received });
    socket.close();
    process.exit(code);
  }
}

// The web SDK's error when an OBF's user is not in the meeting: the one refusal worth trying again.
const NOT_IN_MEETING = 65535;
const NO_MEETING = 3001;
const botName = process.env.BOT_NAME ?? "Token server example bot";
const joinEveryMs = Number(process.env.JOIN_EVERY_MS ?? 3000);

// joinMeeting gets a fresh OBF and its SDK bundle for every attempt and joins with them; it answers the exit code.
async function joinMeeting(socket) {
  const info = await (await fetch(`${url}/`)).json();
  const sandbox = info.mode === "sandbox";
  if (sandbox) {
    say({ event: "join-sandbox", note: "SANDBOX: the sandbox's judge (POST /sandbox/sdk/join) stands in for the Meeting SDK's join; no real meeting is joined" });
  }
  for (let attempt = 1; ; attempt++) {
    const ans = await socket.timeout(waitMs).emitWithAck("meeting:join", { meetingId, participantUserId: userId });
    if (!ans.success) throw new Error(`meeting:join: ${ans.code}: ${ans.error}`);
    if (!ans.sdk) throw new Error("the join answer has no sdk bundle: the server has no Meeting SDK signing configured");
    const { signature, sdkKey, meetingNumber } = ans.sdk;
    if (!sandbox) {
      // What a web Meeting SDK app would pass; tokens shown by length and fingerprint only.
      say({ event: "join-params", note: "ZOOM MODE: this example does not join a real meeting; a Meeting SDK app would call ZoomMtg.join with these (a fresh OBF for each join)",
        web: { signature: `<${signature.length} chars, ${fingerprint(signature)}>`, sdkKey, meetingNumber,
          obfToken: `<${ans.obfToken.length} chars, ${fingerprint(ans.obfToken)}>`, userName: botName },
        native: "authenticate the SDK with the signature as its JWT, then join without login with meetingNumber, userName and onBehalfToken (the OBF)" });
      return 0;
    }
    const res = await fetch(`${url}/sandbox/sdk/join`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ signature, meetingNumber, obfToken: ans.obfToken, userName: botName }),
    });
    const verdict = await res.json();
    if (res.ok && verdict.joined) {
      say({ event: "joined", attempt, meetingNumber, userName: botName, as: verdict.as, fingerprint: fingerprint(ans.obfToken) });
      return 0;
    }
    say({ event: "join-refused", attempt, meetingNumber, errorCode: verdict.errorCode, errorMessage: verdict.errorMessage,
      reason: verdict.reason, fingerprint: fingerprint(ans.obfToken) });
    if (verdict.errorCode === NO_MEETING) {
      const create = `curl -s -X POST ${url}/sandbox/meetings -d '{"number":"${meetingId}","host":"host@example.com"}'`;
      say({ event: "hint", note: `the sandbox has no meeting ${meetingId}: make one with ${create}` });
      console.error(`The sandbox has no meeting ${meetingId}: make one with\n  ${create}`);
    }
    if (verdict.errorCode !== NOT_IN_MEETING) return 1;
    const admit = `curl -s -X POST ${url}/sandbox/meetings/${meetingId}/participants -d '{"user":"${userId}"}'`;
    say({ event: "join-retry", note: `${userId} is not in the meeting yet; trying again in ${joinEveryMs} ms with a fresh OBF (an OBF is single use)`,
      ...(attempt === 1 ? { sandbox: `in the sandbox, ${userId} joins the meeting (as in their Zoom client) with: ${admit}` } : {}) });
    if (attempt === 1) console.error(`In the sandbox, put ${userId} in the meeting (as their Zoom client would) with:\n  ${admit}`);
    await new Promise((r) => setTimeout(r, joinEveryMs));
  }
}

main().catch((err) => {
  const cause = err && err.cause && (err.cause.code || err.cause.message);
  const message = String(err.message ?? err) + (cause ? ` (${cause})` : "");
  // "fetch failed" alone says nothing: name the server and the variable that sets it.
  const hint = /fetch failed|ECONNREFUSED|ENOTFOUND/.test(message + (cause || ""))
    ? `cannot reach the token server at ${url}: is it running? Set TOKEN_SERVER_URL (or PORT) to where it listens.`
    : undefined;
  say({ event: "fatal", message, ...(hint ? { hint } : {}) });
  process.exit(1);
});
