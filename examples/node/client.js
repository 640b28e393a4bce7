// Example Socket.IO clients of the Zoom token server, with socket.io-client 4.
//
//   node client.js participant   waits for its OBF token (meeting:credentials)
//   node client.js host          distributes OBF tokens to participants (meeting:distribute)
//
// Environment:
//   SERVER_URL    the token server (default http://localhost:3000)
//   USER_ID       the Zoom user id or email this client acts as
//                 (default participant@example.com / host@example.com)
//   TOKEN         caller JWT or API key; default: asked of POST /sandbox/tokens (sandbox mode)
//   TRANSPORT     websocket or polling; default: socket.io-client's own (polling, then upgrade)
//   MEETING_ID    meeting number (default 85746065432)
//   PARTICIPANTS  host: comma-separated user ids to distribute to
//   EXPECT        participant: how many tokens to wait for before leaving (default 1)
//   WAIT_MS       give up after this long (default 30000)
//
// Every line printed is one JSON object. Tokens are never printed: a
// participant prints a SHA-256 fingerprint of what it received.
import { createHash } from "node:crypto";
import { io } from "socket.io-client";

const role = process.argv[2] ?? "participant";
const url = process.env.SERVER_URL ?? "http://localhost:3000";
const userId = process.env.USER_ID ?? `${role}@example.com`;
const transport = process.env.TRANSPORT;
const meetingId = process.env.MEETING_ID ?? "85746065432";
const expect = Number(process.env.EXPECT ?? 1);
const waitMs = Number(process.env.WAIT_MS ?? 30000);

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

main().catch((err) => {
  say({ event: "fatal", message: String(err.message ?? err) });
  process.exit(1);
});
