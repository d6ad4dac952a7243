// switchboard.js - the browser client of Switchboard, served by every node
// at GET /switchboard.js. An ES module with no dependencies and no build
// step:
//
//   import { Switchboard, Mesh } from "/switchboard.js";
//   const sb = new Switchboard({ roomId, token });
//   sb.addEventListener("connected", (e) => console.log(e.detail.user_id));
//   sb.connect();
//
// Switchboard: one room's WebSocket. It reconnects by itself, with
// exponential backoff and jitter, when the node restarts or drains (close
// 1012, or {"type":"reconnect"} first), is briefly unavailable (1013), or
// the connection drops (1006). Every server message is an event named by
// its type ("connected", "user-joined", "user-left", "error",
// "room-closed", and each relayed type such as "offer"), with the message
// as `detail`; relayed messages are also a "message" event. Refusals that
// a retry cannot fix end it with a "refused" event (detail: code, reason,
// text). "state" events tell "connecting", "open", "reconnecting",
// "closed".
//
// Resuming: each "connected" carries a resume token. When the socket is
// lost and a reconnect follows, the client presents it (?resume=), and the
// node gives back the same participant: the same user id, no "user-left"
// or "user-joined" seen by anyone, the messages of the gap delivered after
// "connected". The others are kept meanwhile; the "connected" that comes
// back says who is still there, and the differences are told as
// "user-left" and "user-joined" events, so the peer connections of those
// still there are kept. If the node could not resume (the window passed),
// everyone is told as left, and the call starts afresh as before.
//
// Mesh: a full-mesh call over a Switchboard, one RTCPeerConnection per
// participant, each run with the perfect-negotiation pattern. Who offers:
// the members already in the room offer to a newcomer (on "user-joined");
// the newcomer only answers, so a joining participant never races N
// offers against N others. Later renegotiation may start on either side;
// collisions are settled by perfect negotiation, where the peer with the
// greater user id is the polite one.

const RETRY_CODES = new Set([1001, 1006, 1012, 1013]);

/** Words for the close codes and errors a page shows. */
export const REFUSALS = {
  4401: "Unauthorized: this link needs a valid token.",
  4403: "Forbidden: your token does not allow joining this room.",
  4404: "Room not found: it may have expired or been deleted.",
  4409: "The room is full.",
  4001: "You joined this room from another tab or device.",
  1013: "The service is unavailable right now; retrying.",
  1008: "Disconnected: too many messages.",
  1009: "Disconnected: a message was too large.",
};

/** The token of the page from its URL fragment (#token=…), never sent to a server. */
export function tokenFromFragment(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  return params.get("token") || "";
}

/** GET /ice-servers (with the token as Bearer): the iceServers array. */
export async function fetchIceServers({ base = "", token = "" } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(`${base}/ice-servers`, { headers });
  if (!res.ok) throw new Error(`GET /ice-servers: ${res.status}`);
  const body = await res.json();
  return body.iceServers || [];
}

/** POST /create-room: {room_id, join_link, message}. */
export async function createRoom({ base = "", token = "", options } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${base}/create-room`, {
    method: "POST",
    headers,
    body: options ? JSON.stringify(options) : "",
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || `POST /create-room: ${res.status}`);
  return body;
}

export class Switchboard extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.roomId
   * @param {string} [o.token]  with auth on
   * @param {string} [o.url]    the WebSocket URL; default: this page's host
   * @param {number} [o.minDelay=500] [o.maxDelay=10000] backoff bounds, ms
   */
  constructor({ roomId, token = "", url, minDelay = 500, maxDelay = 10000 }) {
    super();
    this.roomId = roomId;
    this.token = token;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = url || `${scheme}//${location.host}/ws/${encodeURIComponent(roomId)}`;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.userId = null;
    this.participants = new Set();
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.timer = null;
    this.drain = false;
    this.resumeToken = null; // from the last "connected", until used or dead
  }

  /** Open the socket (again); resolves nothing, watch the events. */
  connect() {
    this.stopped = false;
    clearTimeout(this.timer);
    this.timer = null;
    this._state(this.attempt ? "reconnecting" : "connecting");
    const query = [];
    if (this.token) query.push(`access_token=${encodeURIComponent(this.token)}`);
    if (this.resumeToken) query.push(`resume=${encodeURIComponent(this.resumeToken)}`);
    const url = query.length ? `${this.url}?${query.join("&")}` : this.url;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.drain = false;
    ws.onmessage = (e) => this._receive(e.data);
    ws.onclose = (e) => this._closed(ws, e.code, e.reason);
  }

  /** send(msg) to everyone else, or send(toUserId, msg) to one. */
  send(to, msg) {
    if (typeof to === "object" && to !== null) {
      msg = to;
      to = undefined;
    }
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(to ? { ...msg, to } : msg));
    return true;
  }

  /** Leave for good: close 1000 (the others see "user-left" at once), no reconnect. */
  close() {
    this.stopped = true;
    this.resumeToken = null;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
    this._state("closed");
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _state(state) {
    this.state = state;
    this._emit("state", { state, attempt: this.attempt });
  }

  _receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== "string") return;
    const id = (p) => (typeof p === "string" ? p : p.user_id);
    let after = [];
    switch (msg.type) {
      case "connected": {
        const before = this.participants;
        const now = new Set((msg.participants || []).map(id));
        if (msg.resumed === true && msg.user_id === this.userId) {
          // Still the same participant: tell only what changed meanwhile.
          for (const u of before) if (!now.has(u)) after.push(["user-left", u]);
          for (const u of now) if (!before.has(u)) after.push(["user-joined", u]);
        } else {
          this._forget(before); // a new participant: the old peers are gone
        }
        this.userId = msg.user_id;
        this.participants = now;
        this.resumeToken = typeof msg.resume_token === "string" ? msg.resume_token : null;
        this.attempt = 0;
        this._state("open");
        break;
      }
      case "user-joined":
        this.participants.add(msg.user_id);
        break;
      case "user-left":
        this.participants.delete(msg.user_id);
        break;
      case "reconnect":
        this.drain = true; // the close (1012) follows; reconnect then
        break;
      case "room-closed":
        this.stopped = true;
        break;
      case "error":
      case "pong":
        break;
      default:
        this._emit("message", msg);
    }
    this._emit(msg.type, msg);
    for (const [type, user_id] of after)
      this._emit(type, { type, user_id, room_id: this.roomId });
  }

  /** Tell those we knew as gone from our point of view. */
  _forget(users) {
    for (const user_id of [...users]) this._emit("user-left", { type: "user-left", user_id });
  }

  _closed(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    const retry = !this.stopped && (this.drain || RETRY_CODES.has(code));
    // A reconnect with a resume token may come back as the same
    // participant: keep the others until its "connected" says who is
    // there. Otherwise those we knew are gone from our point of view, and
    // the next "connected" lists whoever is still there.
    if (!retry || !this.resumeToken) {
      const others = this.participants;
      this.participants = new Set();
      this.userId = null;
      this.resumeToken = null;
      this._forget(others);
    }
    if (this.stopped) {
      this._state("closed");
      return;
    }
    if (retry) {
      const base = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt);
      const delay = base / 2 + Math.random() * (base / 2);
      this.attempt++;
      this._emit("reconnecting", { code, reason, attempt: this.attempt, delay });
      this._state("reconnecting");
      this.timer = setTimeout(() => this.connect(), delay);
      return;
    }
    this.stopped = true;
    const text = REFUSALS[code] || `Disconnected (${code}${reason ? `: ${reason}` : ""}).`;
    this._emit("refused", { code, reason, text });
    this._state("closed");
  }
}

/** One peer's connection and its perfect-negotiation state. */
class Peer {
  constructor(mesh, userId, mayOffer) {
    this.mesh = mesh;
    this.userId = userId;
    this.polite = mesh.sb.userId > userId;
    this.mayOffer = mayOffer; // the newcomer answers first, then may renegotiate
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.tracksAdded = false;
    const pc = new RTCPeerConnection({ iceServers: mesh.iceServers });
    this.pc = pc;
    this.stream = new MediaStream();
    pc.ontrack = ({ track }) => {
      this.stream.addTrack(track);
      mesh._emit("peer-track", { userId, stream: this.stream, track });
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && !mesh.candidateFilter(candidate)) return;
      mesh.sb.send(userId, { type: "ice-candidate", candidate });
    };
    pc.onnegotiationneeded = () => this.offer();
    pc.onconnectionstatechange = () =>
      mesh._emit("peer-state", { userId, state: pc.connectionState });
  }

  addTracks(stream) {
    if (this.tracksAdded || !stream) return;
    this.tracksAdded = true;
    for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
  }

  async offer() {
    if (!this.mayOffer) return; // fires again once stable, if still needed
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.mesh.sb.send(this.userId, { type: "description", description: this.pc.localDescription });
    } catch (err) {
      this.mesh._emit("peer-error", { userId: this.userId, error: err });
    } finally {
      this.makingOffer = false;
    }
  }

  async onDescription(description) {
    const pc = this.pc;
    const collision =
      description.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      this.addTracks(this.mesh.localStream); // into the offer's transceivers
      await pc.setLocalDescription();
      this.mesh.sb.send(this.userId, { type: "description", description: pc.localDescription });
    }
    this.mayOffer = true;
  }

  async onCandidate(candidate) {
    try {
      if (candidate && !this.mesh.candidateFilter(candidate)) return;
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      if (!this.ignoreOffer) throw err;
    }
  }

  close() {
    this.pc.close();
  }
}

export class Mesh extends EventTarget {
  /**
   * @param {Switchboard} sb
   * @param {object} o
   * @param {MediaStream} [o.localStream]
   * @param {RTCIceServer[]} [o.iceServers]
   * @param {(c: RTCIceCandidate) => boolean} [o.candidateFilter] keep a candidate?
   * Events: "peer-added", "peer-track" {userId, stream}, "peer-state"
   * {userId, state}, "peer-removed" {userId}, "peer-error".
   */
  constructor(sb, { localStream = null, iceServers = [], candidateFilter = () => true } = {}) {
    super();
    this.sb = sb;
    this.localStream = localStream;
    this.iceServers = iceServers;
    this.candidateFilter = candidateFilter;
    this.peers = new Map();
    sb.addEventListener("user-joined", (e) => this._add(e.detail.user_id, true));
    sb.addEventListener("user-left", (e) => this.remove(e.detail.user_id));
    // A resume that lost messages of the gap (an offer or candidates may
    // be among them): renegotiate every connection, ICE included.
    sb.addEventListener("connected", (e) => {
      if (!e.detail.resumed || !e.detail.missed) return;
      for (const peer of this.peers.values()) if (peer.mayOffer) peer.pc.restartIce();
    });
    sb.addEventListener("description", (e) => this._signal(e.detail));
    sb.addEventListener("ice-candidate", (e) => this._signal(e.detail));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _add(userId, member) {
    let peer = this.peers.get(userId);
    if (peer) return peer;
    peer = new Peer(this, userId, member);
    this.peers.set(userId, peer);
    this._emit("peer-added", { userId });
    // A member adds its tracks now, which makes it offer; the newcomer
    // adds them when the member's offer comes (Peer.onDescription).
    if (member) peer.addTracks(this.localStream);
    return peer;
  }

  async _signal(msg) {
    if (msg.to && msg.to !== this.sb.userId) return;
    const from = msg.sender_id;
    if (!from) return;
    // An offer from someone we have no connection with: we are the
    // newcomer, and this member offers to us.
    const peer =
      this.peers.get(from) || (msg.type === "description" && msg.description?.type === "offer"
        ? this._add(from, false)
        : null);
    if (!peer) return;
    try {
      if (msg.type === "description") await peer.onDescription(msg.description);
      else await peer.onCandidate(msg.candidate);
    } catch (err) {
      this._emit("peer-error", { userId: from, error: err });
    }
  }

  /** Replace a local track (e.g. another camera) on every connection. */
  async replaceTrack(kind, track) {
    for (const peer of this.peers.values())
      for (const sender of peer.pc.getSenders())
        if (sender.track?.kind === kind || (!sender.track && track?.kind === kind))
          await sender.replaceTrack(track);
  }

  remove(userId) {
    const peer = this.peers.get(userId);
    if (!peer) return;
    peer.close();
    this.peers.delete(userId);
    this._emit("peer-removed", { userId });
  }

  close() {
    for (const userId of [...this.peers.keys()]) this.remove(userId);
  }
}
