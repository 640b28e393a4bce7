// An RTMS worker of the Zoom token server (docs/ZOOM.md, "RTMS"), with socket.io-client 4 and ws.
//
//   node rtms-worker.js
//
// It connects as a caller with role "worker", offers to take streams (rtms:ready {capacity}), and for each stream
// the server hands it (rtms:assign, acknowledged) it opens the stream's signaling websocket (serverUrls) and sends
// Zoom's handshake (msg_type 1) with the signature the server computed: the app's client secret never reaches a
// worker. It prints the transcript lines the stream sends (msg_type 17) and answers keep-alives (12 → 13).
// rtms:reconnect (Zoom's RTMS failover: new URLs and signature) makes it connect again; rtms:stopped ends the
// stream. It does not reconnect on its own when a signaling connection closes: the server says when to.
//
// In sandbox mode it needs no settings; start a stream on the sandbox's meeting (someone must be in it) with
//   curl -s -X POST localhost:3000/sandbox/meetings/85746065432/participants -d '{"user":"host@example.com"}'
//   curl -s -X POST localhost:3000/sandbox/meetings/85746065432/rtms
// and stop it with
//   curl -s -X DELETE localhost:3000/sandbox/meetings/85746065432/rtms
//
// Environment:
//   TOKEN_SERVER_URL  the token server (default http://localhost:$PORT, PORT 3000; SERVER_URL is read too)
//   TOKEN             caller JWT with role "worker"; default: asked of POST /sandbox/tokens (sandbox mode)
//   WORKER_ID         the caller's sub when asking the sandbox for a token (default rtms-worker@example.com)
//   CAPACITY          how many streams it takes at once (default 2)
//   EXIT_AFTER_STOPS  leave after this many streams stopped (default 0: run until SIGINT or SIGTERM)
//   WAIT_MS           leave after this long (default 0: no limit)
//
// Every line printed is one JSON object. The signature and the token are never printed.
import { io } from "socket.io-client";
import WebSocket from "ws";

const url = process.env.TOKEN_SERVER_URL || process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`;
const workerId = process.env.WORKER_ID || "rtms-worker@example.com";
const capacity = Number(process.env.CAPACITY ?? 2);
const exitAfterStops = Number(process.env.EXIT_AFTER_STOPS ?? 0);
const waitMs = Number(process.env.WAIT_MS ?? 0);

// Zoom's RTMS message types used here.
const HANDSHAKE_REQ = 1, HANDSHAKE_RESP = 2, STREAM_STATE = 8, KEEP_ALIVE_REQ = 12, KEEP_ALIVE_RESP = 13, TRANSCRIPT = 17;

const say = (obj) => console.log(JSON.stringify(obj));
const streams = new Map(); // streamId → {assignment, ws}
let stops = 0;

async function callerToken() {
  if (process.env.TOKEN) return process.env.TOKEN;
  const res = await fetch(`${url}/sandbox/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub: workerId, role: "worker" }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`POST /sandbox/tokens: ${res.status} ${body.code}: ${body.error}`);
  return body.token;
}

// firstURL takes the signaling URL from serverUrls: a string (Zoom sends one; a comma-separated list is read too)
// or a list.
function firstURL(serverUrls) {
  const list = Array.isArray(serverUrls) ? serverUrls : String(serverUrls ?? "").split(",");
  return list.map((s) => String(s).trim()).find(Boolean);
}

// connect opens a stream's signaling websocket and sends the handshake.
function connect(streamId) {
  const s = streams.get(streamId);
  if (!s) return;
  const { assignment } = s;
  const target = firstURL(assignment.serverUrls);
  if (!target) {
    say({ event: "signaling-error", streamId, message: "the assignment has no serverUrls" });
    return;
  }
  const ws = new WebSocket(target);
  s.ws = ws;
  ws.on("open", () => {
    const hs = { msg_type: HANDSHAKE_REQ, protocol_version: 1, sequence: Date.now(), rtms_stream_id: streamId,
      signature: assignment.signature };
    if (assignment.sessionId) hs.session_id = assignment.sessionId;
    else hs.meeting_uuid = assignment.meetingUuid;
    ws.send(JSON.stringify(hs));
  });
  ws.on("message", (data) => onSignal(streamId, ws, data));
  ws.on("error", (err) => say({ event: "signaling-error", streamId, message: err.message }));
  ws.on("close", (code, reason) => {
    if (s.ws === ws) s.ws = null;
    say({ event: "signaling-closed", streamId, code, reason: reason.toString() });
  });
}

function onSignal(streamId, ws, data) {
  let msg;
  try {
    msg = JSON.parse(data.toString());
  } catch {
    return;
  }
  switch (msg.msg_type) {
    case HANDSHAKE_RESP:
      if (msg.status_code === 0) say({ event: "connected", streamId });
      else say({ event: "handshake-refused", streamId, status: msg.status_code, reason: msg.reason });
      break;
    case TRANSCRIPT: {
      const c = msg.content ?? {};
      say({ event: "transcript", streamId, user: c.user_name, text: c.data, timestamp: c.timestamp });
      break;
    }
    case KEEP_ALIVE_REQ:
      ws.send(JSON.stringify({ msg_type: KEEP_ALIVE_RESP, timestamp: msg.timestamp ?? Date.now() }));
      break;
    case STREAM_STATE:
      say({ event: "stream-state", streamId, state: msg.state, reason: msg.reason });
      break;
  }
}

function closeStream(streamId, code = 1000) {
  const s = streams.get(streamId);
  if (s?.ws) s.ws.close(code, "done");
  streams.delete(streamId);
}

async function main() {
  const token = await callerToken();
  const socket = io(url, { auth: { token }, timeout: 10000 });
  if (waitMs > 0) setTimeout(() => leave(socket, 2, "timeout"), waitMs);
  process.on("SIGINT", () => leave(socket, 0, "SIGINT"));
  process.on("SIGTERM", () => leave(socket, 0, "SIGTERM"));

  socket.on("connect_error", (err) => {
    say({ event: "connect_error", message: err.message, data: err.data });
    process.exit(1);
  });
  socket.on("error", (e) => say({ event: "error", code: e.code, message: e.message }));

  // After every (re)connection: offer the capacity again.
  socket.on("authenticated", async (a) => {
    const ans = await socket.timeout(10000).emitWithAck("rtms:ready", { capacity });
    if (ans && (ans.success === false || ans.error)) {
      say({ event: "fatal", code: ans.code, message: ans.error ?? ans.message });
      process.exit(1);
    }
    say({ event: "ready", userId: a.userId, role: a.role, capacity });
  });

  socket.on("rtms:assign", (a, ack) => {
    const full = streams.size >= capacity && !streams.has(a.streamId);
    if (typeof ack === "function") ack(full ? { accepted: false, reason: "full" } : { accepted: true });
    if (full) return;
    say({ event: "assigned", streamId: a.streamId, product: a.product, meetingUuid: a.meetingUuid, sessionId: a.sessionId,
      meetingId: a.meetingId, serverUrls: a.serverUrls });
    closeStream(a.streamId);
    streams.set(a.streamId, { assignment: a, ws: null });
    connect(a.streamId);
  });

  socket.on("rtms:reconnect", (r, ack) => {
    if (typeof ack === "function") ack({ accepted: true });
    const s = streams.get(r.streamId);
    say({ event: "reconnect", streamId: r.streamId, reason: r.reason, held: !!s });
    if (!s) return;
    if (s.ws) s.ws.close(1000, "reconnecting");
    s.assignment = { ...s.assignment, serverUrls: r.serverUrls ?? s.assignment.serverUrls, signature: r.signature ?? s.assignment.signature };
    connect(r.streamId);
  });

  socket.on("rtms:stopped", (st, ack) => {
    if (typeof ack === "function") ack({ ok: true });
    say({ event: "stopped", streamId: st.streamId, reason: st.reason });
    closeStream(st.streamId);
    stops++;
    if (exitAfterStops > 0 && stops >= exitAfterStops) leave(socket, 0, "streams stopped");
  });
}

// leave gives back every stream held (rtms:release), then exits.
function leave(socket, code, why) {
  for (const streamId of streams.keys()) {
    socket.emit("rtms:release", { streamId });
    closeStream(streamId);
  }
  say({ event: "done", why, stops });
  setTimeout(() => {
    socket.close();
    process.exit(code);
  }, 200);
}

main().catch((err) => {
  const cause = err && err.cause && (err.cause.code || err.cause.message);
  const message = String(err.message ?? err) + (cause ? ` (${cause})` : "");
  const hint = /fetch failed|ECONNREFUSED|ENOTFOUND/.test(message + (cause || ""))
    ? `cannot reach the token server at ${url}: is it running? Set TOKEN_SERVER_URL (or PORT) to where it listens.`
    : undefined;
  say({ event: "fatal", message, ...(hint ? { hint } : {}) });
  process.exit(1);
});
