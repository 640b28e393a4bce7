// A meeting bot that keeps itself in a meeting, with socket.io-client 4 (docs/API.md, "Candidates and the hand-off").
//
//   node follow.js     (npm run follow)
//
// Zoom ties an OBF's SDK session to the OBF's user: the join works only while that user is in the meeting, and Zoom
// ends the session the moment that user leaves. So the bot names several candidates and lets the server choose:
// meeting:await {meetingId, onBehalfOf: [candidates], follow: true} answers meeting:credentials with the OBF of a
// candidate who is in the meeting; the bot joins with it. When that user leaves, Zoom ends the bot's session, the
// server says meeting:user-left and at once sends the OBF of another present candidate, with handoff: {from, reason};
// the bot joins again with it. With no candidate present it waits (meeting:awaiting "waiting") for one to join. It
// stops, exit code 0, when the meeting ends.
//
// Environment:
//   TOKEN_SERVER_URL  the token server (default http://localhost:$PORT, PORT 3000; SERVER_URL is read too)
//   MEETING_ID    meeting number (default 85746065432, which sandbox mode makes at start)
//   CANDIDATES    comma-separated user ids or emails, in order of preference
//                 (default pat@example.com,sam@example.com,kim@example.com)
//   TOKEN         a caller token that may mint for every candidate: an admin's (a participant may name only itself);
//                 default: an admin's, asked of POST /sandbox/tokens (sandbox mode)
//   BOT_NAME      its name in the meeting, the SDK's userName (default "Token server follow bot")
//   WAIT_SECONDS  how long one wait with no candidate present may last (the await's timeoutSeconds; default 3600)
//   RETRY_MS      while the server has had no event for the meeting (presence "unknown": nobody joined it since the
//                 server started), ask again this often (default 3000)
//
// Joining: in sandbox mode the bot joins through the sandbox's judge (POST /sandbox/sdk/join), a stand-in for the
// Meeting SDK's join: no real meeting is joined. The judge's answer names the SDK session; the bot long-polls
// GET /sandbox/sdk/sessions/{id}/wait, which answers when the sandbox ends the session as Zoom would (the OBF's user
// left, or the meeting ended). A real bot learns it from the SDK's leave callback. Against real Zoom this example
// prints what it would join with and does not join.
//
// Every line printed is one JSON object, one per event. Tokens are never printed, only a SHA-256 fingerprint.
import { createHash } from "node:crypto";
import { io } from "socket.io-client";

const url = process.env.TOKEN_SERVER_URL || process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`;
const meetingId = process.env.MEETING_ID ?? "85746065432";
const candidates = (process.env.CANDIDATES ?? "pat@example.com,sam@example.com,kim@example.com")
  .split(",").map((s) => s.trim()).filter(Boolean);
const botName = process.env.BOT_NAME ?? "Token server follow bot";
const waitSeconds = Number(process.env.WAIT_SECONDS ?? 3600);
const retryMs = Number(process.env.RETRY_MS ?? 3000);
// How long the bot waits for the judge to say its session ended, once the server said its user left.
const endGraceMs = 10000;

const say = (obj) => console.log(JSON.stringify(obj));
const fingerprint = (t) => createHash("sha256").update(t).digest("hex").slice(0, 16);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function callerToken() {
  if (process.env.TOKEN) return process.env.TOKEN;
  const res = await fetch(`${url}/sandbox/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub: "follow-bot@example.com", role: "admin" }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`POST /sandbox/tokens: ${res.status} ${body.code}: ${body.error}`);
  return body.token;
}

// The bot's SDK session now: {sessionId, userId, ended: a promise settled when the judge says it ended}, or null.
let session = null;
let joins = 0;
let sandbox = false;
let finishing = false;
let unknownSaid = false;

// Events are handled one at a time, in the order they came: a hand-off's join waits for the old session's end.
let queue = Promise.resolve();
const serially = (fn) => { queue = queue.then(fn).catch(fatal); };

async function main() {
  sandbox = (await (await fetch(`${url}/`)).json()).mode === "sandbox";
  if (sandbox) {
    say({ event: "join-sandbox", note: "SANDBOX: the sandbox's judge (POST /sandbox/sdk/join) stands in for the Meeting SDK's join; no real meeting is joined" });
  }
  const token = await callerToken();
  const socket = io(url, { auth: { token }, timeout: 10000 });

  socket.on("connect_error", (err) => {
    say({ event: "connect_error", message: err.message, data: err.data });
    process.exit(1);
  });
  socket.on("error", (e) => {
    say({ event: "error", code: e.code, message: e.message });
    if (e.code === "presence_timeout") finish(socket, 2);
  });
  socket.on("disconnect", (reason) => finishing || say({ event: "disconnected", reason, note: "the server ends the await; it is asked again on reconnect" }));
  // Each connection (the first, and any reconnect) asks for the meeting anew.
  socket.on("authenticated", (a) => {
    say({ event: "ready", callerId: a.userId, role: a.role, meetingId, candidates });
    awaitMeeting(socket).catch(fatal);
  });
  socket.on("meeting:credentials", (c) => serially(() => onCredentials(c)));
  socket.on("meeting:user-left", (u) => serially(() => onUserLeft(u)));
  socket.on("meeting:awaiting", (a) => serially(() => onAwaiting(socket, a)));
  process.on("SIGINT", () => serially(async () => { await leave("stopped"); finish(socket, 130); }));
}

// awaitMeeting follows the meeting on behalf of the candidates.
async function awaitMeeting(socket) {
  const ans = await socket.timeout(15000).emitWithAck("meeting:await",
    { meetingId, onBehalfOf: candidates, follow: true, timeoutSeconds: waitSeconds });
  if (!ans.success) throw new Error(`meeting:await: ${ans.code}: ${ans.error}`);
  if (ans.presence !== "unknown") {
    unknownSaid = false;
    say({ event: "await", presence: ans.presence, candidates: ans.candidates,
      ...(sandbox && ans.presence === "waiting" ? { sandbox: `in the sandbox, a candidate joins the meeting with: ${admitCommand(candidates[0])}` } : {}) });
    return;
  }
  // No event came for this meeting since the server started, so it cannot tell who is in it: ask again (no Zoom
  // call). A meeting whose events never reach the server (most outside meetings) stays unknown: a bot joins it
  // with candidates instead (POST /api/meetings/join with participantUserIds, then excludeUserIds); this one waits.
  if (!unknownSaid) {
    const admit = admitCommand(candidates[0]);
    say({ event: "await", presence: ans.presence, candidates: ans.candidates });
    say({ event: "presence-unknown", note: `the server has had no event for meeting ${meetingId} yet; asking again every ${retryMs} ms`,
      ...(sandbox ? { sandbox: `in the sandbox, a candidate joins the meeting with: ${admit}` } : {}) });
  }
  unknownSaid = true;
  setTimeout(() => awaitMeeting(socket).catch(fatal), retryMs);
}

const participants = `${url}/sandbox/meetings/${meetingId}/participants`;
const admitCommand = (user) => `curl -s -X POST ${participants} -d '{"user":"${user}"}'`;

async function onCredentials(c) {
  say({ event: "credentials", userId: c.participantUserId, handoff: c.handoff ?? null, fingerprint: fingerprint(c.obfToken) });
  if (session && !c.handoff) {
    // Still in (the credentials of a reconnect's new await): this OBF is not needed. One OBF per session.
    say({ event: "still-in", userId: session.userId, sessionId: session.sessionId, note: "already in the meeting: this OBF is left unused" });
    return;
  }
  // A hand-off: the old session ends (its user left); one session at a time, so leave it if the judge has not ended it.
  if (session && (await ended(session)) === "timeout") await leave("hand-off");
  await join(c);
}

async function onUserLeft(u) {
  // Zoom ends the session of an OBF the moment its user leaves: the judge says so too.
  if (session) await ended(session);
  say({ event: "user-left", userId: u.userId });
}

async function onAwaiting(socket, a) {
  if (a.presence !== "ended") {
    say({ event: "awaiting", presence: a.presence, note: "no candidate is in the meeting: waiting for one to join" });
    return;
  }
  if (session) await ended(session);
  say({ event: "meeting-ended", meetingId });
  finish(socket, 0);
}

// join joins with one credentials' OBF and SDK bundle, and starts watching the session it opens.
async function join(c) {
  const { signature, sdkKey, meetingNumber } = c.sdk ?? {};
  if (!signature) throw new Error("the credentials have no sdk bundle: the server has no Meeting SDK signing configured");
  if (!sandbox) {
    say({ event: "join-params", userId: c.participantUserId, note: "ZOOM MODE: this example does not join a real meeting; a Meeting SDK app would call ZoomMtg.join with these",
      web: { signature: `<${signature.length} chars, ${fingerprint(signature)}>`, sdkKey, meetingNumber,
        obfToken: `<${c.obfToken.length} chars, ${fingerprint(c.obfToken)}>`, userName: botName } });
    return;
  }
  const res = await fetch(`${url}/sandbox/sdk/join`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ signature, meetingNumber, obfToken: c.obfToken, userName: botName }),
  });
  const v = await res.json();
  if (!res.ok || !v.joined) {
    // Its user left between the hand-off and the join: the server's next hand-off follows.
    say({ event: "join-refused", userId: c.participantUserId, errorCode: v.errorCode, errorMessage: v.errorMessage, reason: v.reason });
    session = null;
    return;
  }
  joins++;
  session = { sessionId: v.sessionId, userId: c.participantUserId };
  session.ended = watch(session).catch(fatal);
  const next = candidates.find((u) => u !== c.participantUserId) ?? c.participantUserId;
  say({ event: "joined", userId: c.participantUserId, as: v.as, sessionId: v.sessionId, joins,
    sandbox: `${c.participantUserId} leaving ends this session (curl -s -X DELETE ${participants}/${c.participantUserId}); ` +
      `the bot then rejoins as the next candidate in the meeting (${admitCommand(next)})` });
}

// watch long-polls the judge until the session ends, and says why it ended.
async function watch(s) {
  for (;;) {
    const res = await fetch(`${url}/sandbox/sdk/sessions/${encodeURIComponent(s.sessionId)}/wait?timeoutSeconds=20`);
    const v = await res.json();
    if (!res.ok) throw new Error(`GET /sandbox/sdk/sessions/…/wait: ${res.status} ${v.message}`);
    if (v.state === "ended") {
      say({ event: "session-ended", userId: s.userId, sessionId: s.sessionId, reason: v.reason });
      if (session === s) session = null;
      return v.reason;
    }
  }
}

// ended waits for the session to end, at most endGraceMs: its reason, or "timeout".
async function ended(s) {
  if (!s.ended) return "timeout";
  return Promise.race([s.ended, sleep(endGraceMs).then(() => "timeout")]);
}

// leave ends the bot's session itself (the bot leaving the meeting).
async function leave(why) {
  if (!session || !sandbox) return;
  await fetch(`${url}/sandbox/sdk/sessions/${encodeURIComponent(session.sessionId)}`, { method: "DELETE" });
  say({ event: "left", userId: session.userId, sessionId: session.sessionId, why });
  session = null;
}

function finish(socket, code) {
  finishing = true;
  say({ event: "done", joins });
  socket.close();
  process.exit(code);
}

function fatal(err) {
  const cause = err && err.cause && (err.cause.code || err.cause.message);
  const message = String(err.message ?? err) + (cause ? ` (${cause})` : "");
  const hint = /fetch failed|ECONNREFUSED|ENOTFOUND/.test(message)
    ? `cannot reach the token server at ${url}: is it running? Set TOKEN_SERVER_URL (or PORT) to where it listens.`
    : undefined;
  say({ event: "fatal", message, ...(hint ? { hint } : {}) });
  process.exit(1);
}

main().catch(fatal);
