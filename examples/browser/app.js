// Browser example: a participant waiting for its OBF token and a host
// distributing tokens, over Socket.IO (socket.io-client 4, served beside this page).
"use strict";

const $ = (id) => document.getElementById(id);

async function callerToken(sub, role) {
  const res = await fetch("/sandbox/tokens", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub, role }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${body.code}: ${body.error}`);
  return body.token;
}

async function fingerprint(token) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 16);
}

function connect(sub, role, status) {
  return callerToken(sub, role).then((token) => {
    const socket = io({ auth: { token } });
    socket.on("connect_error", (err) => { status.value = `refused: ${err.message}`; });
    socket.on("disconnect", (reason) => { status.value = `disconnected (${reason})`; });
    socket.on("error", (e) => { status.value = `error ${e.code}: ${e.message}`; });
    return new Promise((resolve) => {
      socket.on("authenticated", (a) => {
        status.value = `connected as ${a.userId} (${a.role}), waiting…`;
        resolve(socket);
      });
    });
  }).catch((err) => { status.value = `failed: ${err.message}`; throw err; });
}

$("p-connect").addEventListener("click", async () => {
  $("p-connect").disabled = true;
  const socket = await connect($("p-user").value.trim(), "participant", $("p-status"));
  socket.on("meeting:credentials", async (c) => {
    const li = document.createElement("li");
    li.className = "token";
    li.textContent = `OBF for meeting ${c.meetingId}: ${c.obfToken.length} chars, fingerprint ${await fingerprint(c.obfToken)}, expires ${c.expiresAt}`;
    $("p-tokens").append(li);
    $("p-status").value = `received ${$("p-tokens").children.length} token(s)`;
  });
});

let hostSocket;
$("h-connect").addEventListener("click", async () => {
  $("h-connect").disabled = true;
  hostSocket = await connect($("h-user").value.trim(), "host", $("h-status"));
  $("h-distribute").disabled = false;
});

$("h-distribute").addEventListener("click", async () => {
  const participantUserIds = $("h-participants").value.split("\n").map((s) => s.trim()).filter(Boolean);
  const result = await hostSocket.timeout(60000).emitWithAck("meeting:distribute", {
    meetingId: $("h-meeting").value.trim(),
    hostUserId: $("h-user").value.trim(),
    participantUserIds,
  });
  $("h-status").value = result.success ? `distributed: ${result.successful} minted, ${result.failed} failed` : `error ${result.code}`;
  $("h-result").textContent = JSON.stringify(result, null, 2);
});

// My Zoom account: connect it (the user's own OAuth grant), and show the
// connection's status.
async function authHeaders(sub) {
  return { authorization: `Bearer ${await callerToken(sub, "participant")}` };
}

function describeConnection(c) {
  if (!c) return "not connected";
  if (c.status === "connected") {
    const refreshed = c.refreshedAt ? `, refreshed ${c.refreshedAt}` : "";
    return `connected as ${c.email} (Zoom account ${c.accountId})${refreshed}`;
  }
  return `${c.status}${c.reason ? ` (${c.reason})` : ""}: connect again`;
}

async function showConnection() {
  const status = $("z-status");
  try {
    const res = await fetch("/api/connections", { headers: await authHeaders($("z-user").value.trim()) });
    const body = await res.json();
    if (!res.ok) throw new Error(`${body.code}: ${body.error}`);
    status.value = describeConnection(body.connections[0]);
  } catch (err) {
    status.value = `failed: ${err.message}`;
  }
}

$("z-connect").addEventListener("click", async () => {
  const status = $("z-status");
  // Open the window now, while the click still counts, so no popup blocker stops it.
  const win = window.open("about:blank", "zoom-connect");
  try {
    const res = await fetch("/api/connections/zoom/authorize", { headers: await authHeaders($("z-user").value.trim()) });
    const body = await res.json();
    if (!res.ok) throw new Error(`${body.code}: ${body.error}`);
    status.value = "waiting for Zoom's consent…";
    if (win) win.location.href = body.authorizeUrl;
    else window.location.assign(body.authorizeUrl);
  } catch (err) {
    if (win) win.close();
    status.value = `failed: ${err.message}`;
  }
});

$("z-check").addEventListener("click", showConnection);
window.addEventListener("focus", showConnection);
showConnection();

// Bot: join a meeting on behalf of a user with the OBF and the SDK bundle of
// the join answer. In sandbox mode the sandbox's judge stands in for the
// Meeting SDK's join; against real Zoom the page only shows what
// ZoomMtg.join would be given.
const NOT_IN_MEETING = 65535; // the web SDK's "authorized user not in meeting": worth trying again
let botRun = 0; // bumped by Stop and by each new Join, ending the previous loop

function botLog(text, className) {
  const li = document.createElement("li");
  li.className = className;
  li.textContent = text;
  $("b-log").append(li);
}

async function botJoin(run) {
  const status = $("b-status");
  const sub = $("b-user").value.trim();
  const meetingId = $("b-meeting").value.trim();
  const userName = $("b-name").value.trim();
  const everyMs = Math.max(0.1, Number($("b-every").value) || 3) * 1000;
  const info = await (await fetch("/")).json();
  const sandbox = info.mode === "sandbox";
  const socket = await connect(sub, "participant", status);
  try {
    for (let attempt = 1; run === botRun; attempt++) {
      const ans = await socket.timeout(60000).emitWithAck("meeting:join", { meetingId, participantUserId: sub });
      if (!ans.success) throw new Error(`meeting:join: ${ans.code}: ${ans.error}`);
      if (!ans.sdk) throw new Error("the join answer has no sdk bundle: the server has no Meeting SDK signing configured");
      const { signature, sdkKey, meetingNumber } = ans.sdk;
      const obf = `OBF ${await fingerprint(ans.obfToken)}`;
      if (!sandbox) {
        botLog(`ZOOM MODE: not joining. A Meeting SDK app would call ZoomMtg.join({signature: <${signature.length} chars>, ` +
          `sdkKey: "${sdkKey}", meetingNumber: "${meetingNumber}", obfToken: <${obf}>, userName: "${userName}"})`, "params");
        status.value = "parameters shown (zoom mode: not joined)";
        return;
      }
      const res = await fetch("/sandbox/sdk/join", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ signature, meetingNumber, obfToken: ans.obfToken, userName }),
      });
      const verdict = await res.json();
      if (res.ok && verdict.joined) {
        botLog(`attempt ${attempt}: JOINED meeting ${meetingNumber} as "${userName}" ${verdict.as} (${obf}; sandbox judge)`, "joined");
        status.value = `joined meeting ${meetingNumber} ${verdict.as} (sandbox judge: no real meeting)`;
        return;
      }
      botLog(`attempt ${attempt}: REFUSED ${verdict.errorCode} ${verdict.errorMessage} (${verdict.reason}; ${obf})`, "refused");
      if (verdict.errorCode !== NOT_IN_MEETING) {
        status.value = `refused: ${verdict.errorCode} ${verdict.errorMessage}`;
        return;
      }
      status.value = `refused: ${verdict.errorCode} ${verdict.errorMessage}; ${sub} is not in the meeting yet, ` +
        `trying again with a fresh OBF (an OBF is single use)`;
      await new Promise((r) => setTimeout(r, everyMs));
    }
    status.value = "stopped";
  } finally {
    socket.removeAllListeners("disconnect"); // keep the verdict on screen
    socket.close();
  }
}

$("b-join").addEventListener("click", async () => {
  const run = ++botRun;
  $("b-join").disabled = true;
  $("b-stop").disabled = false;
  try {
    await botJoin(run);
  } catch (err) {
    $("b-status").value = `failed: ${err.message}`;
  } finally {
    if (run === botRun) {
      $("b-join").disabled = false;
      $("b-stop").disabled = true;
    }
  }
});

// Sandbox mode only: the user joins the meeting, as their Zoom client would,
// through the sandbox's control route on this server's port.
$("b-admit").addEventListener("click", async () => {
  const user = $("b-user").value.trim();
  const meetingId = $("b-meeting").value.trim();
  try {
    const res = await fetch(`/sandbox/meetings/${encodeURIComponent(meetingId)}/participants`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user }),
    });
    const body = await res.json();
    botLog(res.ok ? `sandbox: ${user} is in meeting ${meetingId} now (${body.participants.length} in it)`
      : `sandbox: could not put ${user} in meeting ${meetingId}: ${body.code} ${body.message ?? body.error}`, res.ok ? "admitted" : "refused-admit");
  } catch (err) {
    botLog(`sandbox: could not put ${user} in meeting ${meetingId}: ${err.message}`, "refused-admit");
  }
});

$("b-stop").addEventListener("click", () => {
  botRun++;
  $("b-join").disabled = false;
  $("b-stop").disabled = true;
  $("b-status").value = "stopping…";
});
