// room.js - the call page (GET /room/{room_id}): camera and microphone
// preview with device choice, a name, Join; then a full-mesh call with a
// tile per participant, mute, camera off, Leave and "copy link". Built on
// /switchboard.js (Switchboard for the room's socket, Mesh for the peer
// connections). Each participant tells the others its name and whether
// its microphone and camera are on in a relayed {"type":"profile"}.
//
// ?test=loopback (for the browser tests) keeps ICE to loopback candidates
// and uses no ICE server (it still fetches them, as a real call does), so
// a test's media never leaves the machine.
import { Switchboard, Mesh, REFUSALS, fetchIceServers, tokenFromFragment } from "/switchboard.js";

const MAX_PARTICIPANTS = 8;
const CLOSING_ERRORS = new Set([
  "Unauthorized",
  "Forbidden",
  "Room not found",
  "Room is full",
  "Replaced by a newer connection",
  "Service unavailable",
  "Message too large",
]);
const $ = (id) => document.getElementById(id);
const roomId = decodeURIComponent(location.pathname.split("/").pop());
const token = tokenFromFragment();
const loopbackOnly = new URLSearchParams(location.search).get("test") === "loopback";

let localStream = null;
let sb = null;
let mesh = null;
const tiles = new Map(); // user id -> {li, video, name, state, profile}
const me = { name: "", audio: true, video: true };

function say(text) {
  $("status").textContent = text;
}

function alarm(text) {
  $("alert").textContent = text;
  $("alert").hidden = !text;
}

$("room-id").textContent = roomId;
$("copy-link").addEventListener("click", async () => {
  // The link without the fragment: a token is personal, never shared.
  const link = location.origin + location.pathname;
  try {
    await navigator.clipboard.writeText(link);
    $("copied").textContent = "Link copied.";
  } catch {
    $("copied").textContent = `Copy this link: ${link}`;
  }
});

// ---- the lobby: preview and devices ----

async function openMedia(cameraId, microphoneId) {
  // The tests run many participants on one machine: small frames.
  const size = loopbackOnly ? { width: 320, height: 240, frameRate: 15 } : {};
  const constraints = {
    video: cameraId ? { deviceId: { exact: cameraId }, ...size } : loopbackOnly ? size : true,
    audio: microphoneId ? { deviceId: { exact: microphoneId } } : true,
  };
  const stream = await navigator.mediaDevices.getUserMedia(constraints);
  if (localStream) {
    for (const kind of ["audio", "video"]) {
      const track = stream.getTracks().find((t) => t.kind === kind);
      const old = localStream.getTracks().find((t) => t.kind === kind);
      if (old) {
        localStream.removeTrack(old);
        old.stop();
      }
      if (track) {
        track.enabled = kind === "audio" ? me.audio : me.video;
        localStream.addTrack(track);
        if (mesh) await mesh.replaceTrack(kind, track);
      }
    }
  } else {
    // Back in the lobby after Leave: the buttons keep their state, so do the tracks.
    for (const track of stream.getTracks()) track.enabled = track.kind === "audio" ? me.audio : me.video;
    localStream = stream;
  }
  $("preview").srcObject = localStream;
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select, kind, track) => {
    const current = track?.getSettings().deviceId;
    select.replaceChildren();
    devices
      .filter((d) => d.kind === kind)
      .forEach((d, i) => {
        const option = new Option(d.label || `${kind} ${i + 1}`, d.deviceId);
        option.selected = d.deviceId === current;
        select.append(option);
      });
  };
  fill($("camera"), "videoinput", localStream.getVideoTracks()[0]);
  fill($("microphone"), "audioinput", localStream.getAudioTracks()[0]);
}

for (const id of ["camera", "microphone"])
  $(id).addEventListener("change", () =>
    openMedia($("camera").value, $("microphone").value).catch((err) =>
      alarm(`Could not switch devices: ${err.message}`),
    ),
  );

// ---- tiles ----

function tile(userId) {
  let t = tiles.get(userId);
  if (t) return t;
  const li = document.createElement("li");
  li.className = "tile";
  li.dataset.userId = userId;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  const label = document.createElement("div");
  label.className = "label";
  const name = document.createElement("span");
  name.className = "name";
  const state = document.createElement("span");
  state.className = "state";
  label.append(name, state);
  li.append(video, label);
  $("tiles").append(li);
  t = { li, video, name, state, profile: {}, connection: "connecting" };
  tiles.set(userId, t);
  render(userId);
  return t;
}

function render(userId) {
  const t = tiles.get(userId);
  if (!t) return;
  const self = userId === "self";
  const p = self ? me : t.profile;
  t.name.textContent = (p.name || "Guest") + (self ? " (you)" : "");
  const words = [];
  if (!self && t.connection !== "connected") words.push(t.connection);
  if (p.audio === false) words.push("muted");
  if (p.video === false) words.push("camera off");
  t.state.textContent = words.join(", ");
  t.li.dataset.state = self ? "self" : t.connection;
  t.video.setAttribute("aria-label", `${t.name.textContent}${words.length ? ": " + words.join(", ") : ""}`);
  $("count").textContent = `(${tiles.size} of at most ${MAX_PARTICIPANTS})`;
}

function dropTile(userId) {
  const t = tiles.get(userId);
  if (!t) return;
  t.li.remove();
  tiles.delete(userId);
  $("count").textContent = `(${tiles.size} of at most ${MAX_PARTICIPANTS})`;
}

// ---- the call ----

/* The status line: how many others are in the call. */
function sayCount() {
  const n = sb.participants.size;
  say(n ? `In the call with ${n} other${n > 1 ? "s" : ""}.` : "Waiting for others: share the link.");
}

function profile() {
  return { type: "profile", name: me.name, audio: me.audio, video: me.video };
}

function isLoopback(candidate) {
  const address = candidate.address || candidate.candidate.split(" ")[4] || "";
  return address === "127.0.0.1" || address === "::1";
}

async function join(event) {
  event.preventDefault();
  me.name = $("name").value.trim() || "Guest";
  $("join").disabled = true;
  let iceServers = [];
  try {
    iceServers = await fetchIceServers({ token });
  } catch (err) {
    // Without STUN/TURN a call still works between hosts that see each other.
    console.warn(err);
    if (loopbackOnly) window.switchboardIceError = err.message;
  }
  if (loopbackOnly) iceServers = []; // no STUN/TURN traffic in the tests
  sb = new Switchboard({ roomId, token });
  mesh = new Mesh(sb, {
    localStream,
    iceServers,
    candidateFilter: loopbackOnly ? isLoopback : () => true,
  });
  wire();
  if (loopbackOnly) window.switchboardMesh = mesh; // the tests look inside
  $("lobby").hidden = true;
  $("call").hidden = false;
  const self = tile("self");
  self.video.muted = true;
  self.video.srcObject = localStream;
  say("Joining…");
  sb.connect();
}

function wire() {
  sb.addEventListener("connected", (e) => {
    alarm("");
    sayCount();
    sb.send(profile());
    // A tile for everyone already here; their profiles follow.
    for (const p of e.detail.participants) {
      const userId = typeof p === "string" ? p : p.user_id;
      const t = tile(userId);
      if (p.name) t.profile.name = p.name;
      render(userId);
    }
  });
  sb.addEventListener("user-joined", (e) => {
    const t = tile(e.detail.user_id);
    if (e.detail.name) t.profile.name = e.detail.name;
    render(e.detail.user_id);
    sb.send(e.detail.user_id, profile());
    sayCount();
  });
  sb.addEventListener("user-left", (e) => {
    dropTile(e.detail.user_id);
    if (sb.state === "open") sayCount();
  });
  sb.addEventListener("profile", (e) => {
    if (!sb.participants.has(e.detail.sender_id)) return; // gone meanwhile
    const t = tile(e.detail.sender_id);
    const { name, audio, video } = e.detail;
    t.profile = { name: typeof name === "string" ? name.slice(0, 64) : "", audio, video };
    render(e.detail.sender_id);
  });
  sb.addEventListener("reconnecting", (e) => {
    const why = e.detail.code === 1013 ? "The service is unavailable" : "Connection lost";
    say(`${why}; reconnecting in ${Math.round(e.detail.delay / 100) / 10} s…`);
  });
  // A refusal that ends the connection comes as an error and then a
  // close: the close's words (REFUSALS) are the ones shown.
  sb.addEventListener("error", (e) => {
    if (!CLOSING_ERRORS.has(e.detail.message)) alarm(e.detail.message);
  });
  sb.addEventListener("room-closed", () => alarm("The room was closed."));
  sb.addEventListener("refused", (e) => {
    alarm(REFUSALS[e.detail.code] || e.detail.text);
    say("Not in the call.");
    mesh.close();
  });
  mesh.addEventListener("peer-track", (e) => {
    const t = tile(e.detail.userId);
    if (t.video.srcObject !== e.detail.stream) t.video.srcObject = e.detail.stream;
  });
  mesh.addEventListener("peer-state", (e) => {
    const t = tiles.get(e.detail.userId);
    if (!t) return;
    t.connection = e.detail.state;
    render(e.detail.userId);
  });
  mesh.addEventListener("peer-error", (e) => console.warn("peer", e.detail.userId, e.detail.error));
}

function toggle(kind, button, onWord, offWord) {
  me[kind] = !me[kind];
  for (const track of localStream.getTracks()) if (track.kind === kind) track.enabled = me[kind];
  button.setAttribute("aria-pressed", String(!me[kind]));
  button.textContent = me[kind] ? onWord : offWord;
  render("self");
  sb?.send(profile());
}

$("mute").addEventListener("click", (e) => toggle("audio", e.target, "Mute", "Unmute"));
$("camera-off").addEventListener("click", (e) =>
  toggle("video", e.target, "Camera off", "Camera on"),
);
$("leave").addEventListener("click", () => {
  sb.close();
  mesh.close();
  for (const id of [...tiles.keys()]) dropTile(id);
  localStream.getTracks().forEach((t) => t.stop());
  localStream = null;
  $("call").hidden = true;
  $("lobby").hidden = false;
  alarm("");
  say("You left the call. Join again when you like.");
  start();
});
$("join-form").addEventListener("submit", join);

// ---- start ----

$("name").value = localStorage.getItem("switchboard-name") || "";
$("name").addEventListener("change", () => localStorage.setItem("switchboard-name", $("name").value));
function start() {
  openMedia()
    .then(listDevices)
    .then(() => {
      if (!sb) say("Check your camera and microphone, then join.");
      $("join").disabled = false;
    })
    .catch((err) => {
      alarm(`No camera or microphone: ${err.message}. Allow access and reload the page.`);
      say("");
    });
}
start();
