// How socket.io-client 4 sees the server end a connection, for the tests and
// the benchmark. Every line printed is one JSON object.
//
//   node disconnect.js kicked   connects without a token, sends wrong credentials until the server disconnects
//                               it, then reports the reason and whether the client tried to reconnect
//   node disconnect.js close    connects with TOKEN over websocket and times socket.close() until the
//                               websocket is closed (close handshake and TCP end); ROUNDS times (default 1)
//
// Environment: TOKEN_SERVER_URL (default http://localhost:$PORT), TOKEN (close), ROUNDS (close).
import { io } from "socket.io-client";

const mode = process.argv[2] ?? "kicked";
const url = process.env.TOKEN_SERVER_URL || process.env.SERVER_URL || `http://localhost:${process.env.PORT || 3000}`;
const say = (obj) => console.log(JSON.stringify(obj));

function kicked() {
  const socket = io(url, { transports: ["websocket"], reconnectionDelay: 100, reconnectionDelayMax: 200, timeout: 5000 });
  let reconnects = 0;
  socket.io.on("reconnect_attempt", () => reconnects++);
  socket.on("connect", () => {
    for (let i = 0; i < 10; i++) socket.emit("authenticate", { token: `wrong-${i}` });
  });
  socket.on("error", (e) => say({ event: "error", code: e.code, message: e.message }));
  socket.on("disconnect", (reason) => {
    say({ event: "disconnect", reason });
    // Long enough for a reconnection to start, were one coming.
    setTimeout(() => {
      say({ event: "done", reason, reconnects, active: socket.active });
      socket.close();
      process.exit(0);
    }, 1000);
  });
}

async function closeRound() {
  const socket = io(url, { transports: ["websocket"], auth: { token: process.env.TOKEN }, reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    socket.on("authenticated", resolve);
    socket.on("connect_error", reject);
  });
  const ws = socket.io.engine.transport.ws;
  const start = performance.now();
  const closed = new Promise((resolve) => ws.addEventListener("close", (e) => resolve(e)));
  socket.close();
  const e = await closed;
  return { ms: performance.now() - start, code: e.code };
}

async function close() {
  const rounds = Number(process.env.ROUNDS ?? 1);
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const r = await closeRound();
    times.push(r.ms);
    if (rounds === 1) say({ event: "closed", ms: r.ms, code: r.code });
  }
  times.sort((a, b) => a - b);
  say({ event: "done", rounds, medianMs: times[Math.floor(times.length / 2)], maxMs: times[times.length - 1] });
  process.exit(0);
}

const timer = setTimeout(() => {
  say({ event: "timeout" });
  process.exit(2);
}, Number(process.env.WAIT_MS ?? 60000));
timer.unref();

(mode === "close" ? close() : Promise.resolve(kicked())).catch((err) => {
  say({ event: "fatal", message: String(err.message ?? err) });
  process.exit(1);
});
