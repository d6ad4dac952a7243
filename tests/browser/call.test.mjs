// call.test.mjs - the call page in real browsers: three headless Chromium
// participants with fake cameras, through a real HAProxy to two real
// switchboard nodes sharing a real redis-server, all on loopback ports of
// their own.
//
//   node tests/browser/call.test.mjs <switchboard binary> [<output dir>]
//
// The test runs in a network namespace of its own with only the loopback
// interface (it re-executes itself under `unshare -n`): the browsers have
// no other address to gather ICE candidates on or to send media from, and
// the page (?test=loopback) also keeps to loopback candidates.
//
// Checks: three participants click Join at once, and every page shows the
// other two participants' video with frames advancing, over loopback ICE
// candidates only, each pair having begun with one offer and its answer
// (the members offer to a newcomer: no glare); a node that gets SIGTERM
// sends its pages away and they come back by themselves, resumed (same
// user ids, the same peer connections, no tile ever gone), with media
// flowing again; one participant leaves and the others' tiles for it go
// within seconds. Then the refusals a page puts in words (room not found,
// room full), and with auth on (a third node): the landing page takes the
// token from the URL fragment, creates a room and joins it, and a bad
// token is refused as unauthorized. Screenshots of every page are saved in the output
// directory on failure. Every wait is bounded; the whole test is bounded
// by TOTAL_MS. Only the processes started here are stopped, by pid.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const TOTAL_MS = 110_000;

if (process.env.SB_BROWSER_NETNS !== "1") {
  const { spawnSync } = await import("node:child_process");
  const userns = process.getuid() === 0 ? [] : ["-r"];
  const r = spawnSync(
    "unshare",
    [...userns, "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", process.execPath, ...process.argv.slice(1)],
    { stdio: "inherit", env: { ...process.env, SB_BROWSER_NETNS: "1" }, timeout: TOTAL_MS + 40_000 },
  );
  if (r.error) console.error("could not enter a network namespace:", r.error.message);
  process.exit(r.status ?? 1);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const nodeBin = path.resolve(process.argv[2] || path.join(root, "build/node/switchboard"));
const outDir = path.resolve(process.argv[3] || path.join(os.tmpdir(), "switchboard-browser"));
const chromiumBin = process.env.CHROMIUM || "/usr/bin/chromium";
const work = mkdtempSync(path.join(os.tmpdir(), "sb-browser-"));
const children = [];
let browser = null;
let pages = [];
let extraPages = [];
const cspViolations = [];
let passed = 0;

function log(...args) {
  console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...args);
}

/** n distinct free loopback ports: every socket is held until all are
 * chosen, or the kernel could hand the same port out twice. */
async function freePorts(n) {
  const servers = [];
  for (let i = 0; i < n; i++) {
    const srv = net.createServer();
    await new Promise((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", resolve);
    });
    servers.push(srv);
  }
  const ports = servers.map((srv) => srv.address().port);
  await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(resolve))));
  return ports;
}

function start(name, cmd, args, env = {}) {
  const out = path.join(work, `${name}.log`);
  const fd = openLog(out);
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", fd, fd] });
  children.push({ name, child, out });
  return child;
}

function openLog(file) {
  writeFileSync(file, "");
  return openSync(file, "a");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn until it returns a truthy value; throw `what` after ms. */
async function until(what, ms, fn, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms: ${what} (last: ${last?.message ?? JSON.stringify(last)})`);
}

async function ready(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  return res.status === 200;
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  passed++;
  log("ok:", what);
}

// ---- the cluster ----

async function cluster() {
  const [redisPort, apiPort, p1, p2] = await freePorts(4);
  start("redis", "redis-server", [
    "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
  ]);
  const nodes = [p1, p2].map((port, i) => {
    const env = {
      SWITCHBOARD_HOST: "127.0.0.1",
      SWITCHBOARD_PORT: String(port),
      SWITCHBOARD_REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
      SWITCHBOARD_NODE_ID: `node${i + 1}`,
      SWITCHBOARD_TRUSTED_PROXIES: "127.0.0.1/32",
    };
    return { id: `node${i + 1}`, port, child: start(`node${i + 1}`, nodeBin, [], env) };
  });
  for (const n of nodes) await until(`node ${n.id} ready`, 15000, () => ready(`http://127.0.0.1:${n.port}/readyz`));
  const cfg = execFileSync(path.join(root, "scripts/haproxy-config.sh"), [
    "loopback", `127.0.0.1:${apiPort}`, String(p1), String(p2),
  ]);
  writeFileSync(path.join(work, "haproxy.cfg"), cfg);
  start("haproxy", "haproxy", ["-db", "-f", path.join(work, "haproxy.cfg")]);
  const api = `http://127.0.0.1:${apiPort}`;
  await until("HAProxy ready", 15000, () => ready(`${api}/readyz`));
  return { api, nodes, redisPort };
}

// ---- what a page shows ----

/** Per remote tile: user id, state, name, video time and frames decoded. */
function tilesOf(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("#tiles li")]
      .filter((li) => li.dataset.userId !== "self")
      .map((li) => {
        const v = li.querySelector("video");
        return {
          id: li.dataset.userId,
          state: li.dataset.state,
          name: li.querySelector(".name").textContent,
          time: v.currentTime,
          frames: v.getVideoPlaybackQuality?.().totalVideoFrames ?? 0,
          width: v.videoWidth,
        };
      }),
  );
}

/** Every page shows `others` remote tiles, each connected and playing. */
async function allSeeVideo(others, ms, what) {
  await until(what, ms, async () => {
    for (const page of pages) {
      const before = await tilesOf(page);
      if (before.length !== others) return false;
      if (!before.every((t) => t.state === "connected" && t.width > 0)) return false;
    }
    // Frames advance: measured over half a second on each page.
    const first = await Promise.all(pages.map(tilesOf));
    await sleep(600);
    const second = await Promise.all(pages.map(tilesOf));
    return first.every((tiles, i) =>
      tiles.every((t) => {
        const later = second[i].find((u) => u.id === t.id);
        return later && later.time > t.time && later.frames > t.frames;
      }),
    );
  });
}

/** The candidates in use are loopback ones on every connection of every page. */
async function loopbackOnly() {
  for (const page of pages) {
    const pairs = await page.evaluate(async () => {
      const out = [];
      for (const peer of window.switchboardMesh.peers.values()) {
        const stats = await peer.pc.getStats();
        const byId = new Map([...stats.values()].map((s) => [s.id, s]));
        // The pair each transport has selected (one per connection: bundled).
        const selected = [...stats.values()].filter((s) => s.type === "transport" && s.selectedCandidatePairId);
        if (!selected.length) return null;
        for (const t of selected) {
          const pair = byId.get(t.selectedCandidatePairId);
          out.push([byId.get(pair?.localCandidateId), byId.get(pair?.remoteCandidateId)]);
        }
      }
      return out;
    });
    if (!pairs || !pairs.length) return false;
    // A peer-reflexive remote candidate's address is not shown to the page.
    const loopback = (c) => ["127.0.0.1", "::1"].includes(c?.address) || (c?.candidateType === "prflx" && !c.address);
    if (!pairs.every(([l, r]) => loopback(l) && loopback(r)))
      throw new Error(`a connection is not on loopback: ${JSON.stringify(pairs)}`);
  }
  return true;
}

async function roomNodes(api, roomId) {
  const res = await fetch(`${api}/rooms/${roomId}`);
  const body = await res.json();
  return body.participants.map((p) => p.node_id);
}

// ---- the test ----

/** A participant of its own (a browser context) on url, Join clicked
 * (or only enabled, with click false). */
async function joinAs(url, name, list, click = true) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const origin = new URL(url).origin;
  await context.grantPermissions(["camera", "microphone", "clipboard-read", "clipboard-write"], { origin });
  // The first description this page sends to each peer: offer or answer.
  await context.addInitScript(() => {
    window.sbFirstDescription = {};
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      try {
        const m = JSON.parse(data);
        if (m.type === "description" && m.to && !(m.to in window.sbFirstDescription))
          window.sbFirstDescription[m.to] = m.description.type;
      } catch {}
      return send.call(this, data);
    };
  });
  const page = await context.newPage();
  list.push(page);
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    log(`${name} console:`, m.text());
    if (m.text().includes("Content Security Policy")) cspViolations.push(`${name}: ${m.text()}`);
  });
  page.on("pageerror", (e) => log(`${name} page error:`, e.message));
  await page.goto(url);
  await page.fill("#name", name);
  await until(`${name}: Join enabled`, 15000, () => page.isEnabled("#join"));
  if (click) await page.click("#join");
  return page;
}

async function alertOf(page) {
  return page.evaluate(() => {
    const a = document.getElementById("alert");
    return a.hidden ? "" : a.textContent;
  });
}

/** The words a page shows for the refusals (open mode, through HAProxy). */
async function refusals(api) {
  const unknown = "00000000-0000-4000-8000-000000000000";
  const lost = await joinAs(`${api}/room/${unknown}?test=loopback`, "Lost", extraPages);
  const notFound = "Room not found: it may have expired or been deleted.";
  await until(`the words "${notFound}"`, 10000, async () => (await alertOf(lost)) === notFound);
  check(true, `an unknown room is put in words: "${notFound}"`);

  const res = await fetch(`${api}/create-room`, { method: "POST", body: '{"max_participants":1}',
                                                    headers: { "Content-Type": "application/json" } });
  const small = (await res.json()).room_id;
  const first = await joinAs(`${api}/room/${small}?test=loopback`, "First", extraPages);
  await until("First in the one-seat room", 10000, () => first.evaluate(() => window.switchboardMesh?.sb.state === "open"));
  const second = await joinAs(`${api}/room/${small}?test=loopback`, "Second", extraPages);
  const full = "The room is full.";
  await until(`the words "${full}"`, 10000, async () => (await alertOf(second)) === full);
  check(true, `a full room is put in words: "${full}"`);
}

/** With auth on: the token from the fragment, and a bad one. */
async function withAuth(redisPort) {
  const [port] = await freePorts(1);
  const secret = "browser-test-secret-0123456789abcdef";
  start("node-auth", nodeBin, [], {
    SWITCHBOARD_HOST: "127.0.0.1",
    SWITCHBOARD_PORT: String(port),
    SWITCHBOARD_REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
    SWITCHBOARD_NODE_ID: "node-auth",
    SWITCHBOARD_AUTH_SECRET: secret,
  });
  const base = `http://127.0.0.1:${port}`;
  await until("the auth node ready", 15000, () => ready(`${base}/readyz`));
  const token = execFileSync(nodeBin, ["token", "--sub", "dana", "--room", "*", "--grants", "create,join",
                                       "--auth-secret", secret]).toString().trim();
  const context = await browser.newContext();
  await context.grantPermissions(["camera", "microphone"], { origin: base });
  const landing = await context.newPage();
  extraPages.push(landing);
  await landing.goto(`${base}/app#token=${token}`);
  await landing.click("#new-room");
  await until("the landing page goes to the join link", 10000, () => /\/room\/[0-9a-f-]{36}#token=/.test(landing.url()));
  check(true, "with auth on, New room creates a room with the fragment's token");
  const roomUrl = landing.url().replace("#", "?test=loopback#");
  await landing.goto(roomUrl);
  await until("Join enabled", 15000, () => landing.isEnabled("#join"));
  await landing.fill("#name", "Dana");
  await landing.click("#join");
  await until("Dana in the room", 10000, () => landing.evaluate(() => window.switchboardMesh?.sb.state === "open").catch(() => false));
  check(true, "with auth on, the call page joins with the fragment's token");
  const iceError = await landing.evaluate(() => window.switchboardIceError ?? null);
  check(iceError === null, `with auth on, GET /ice-servers with the token as Bearer succeeds (${iceError})`);
  const intruder = await joinAs(roomUrl.replace(/#token=.*/, "#token=not-a-token"), "Intruder", extraPages);
  const unauthorized = "Unauthorized: this link needs a valid token.";
  await until(`the words "${unauthorized}"`, 10000, async () => (await alertOf(intruder)) === unauthorized);
  check(true, `a bad token is put in words: "${unauthorized}"`);
}

async function run() {
  const { api, nodes, redisPort } = await cluster();
  log("cluster up at", api);
  const created = await (await fetch(`${api}/create-room`, { method: "POST" })).json();
  const roomId = created.room_id;

  // The page itself, its headers and a bad room id.
  const pageRes = await fetch(`${api}${created.join_link}`);
  check(pageRes.status === 200 && pageRes.headers.get("content-type").startsWith("text/html"), "the join link serves the call page");
  check((pageRes.headers.get("content-security-policy") || "").includes("connect-src 'self'"), "the page has a CSP");
  check((await fetch(`${api}/room/NOT-A-ROOM`)).status === 404, "a non-canonical room id is 404");

  browser = await chromium.launch({
    executablePath: chromiumBin,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      "--allow-loopback-in-peer-connection",
    ],
  });
  const names = ["Ada", "Brian", "Chen"];
  for (const name of names) await joinAs(`${api}/room/${roomId}?test=loopback`, name, pages, false);
  // All three join at once, through HAProxy to both nodes: the glare case.
  // Each pair must still start with one offer (the member's to the newcomer).
  await Promise.all(pages.map((page) => page.click("#join")));
  for (const [i, page] of pages.entries())
    await until(`${names[i]} connected`, 10000, () => page.evaluate(() => window.switchboardMesh?.sb.state === "open"));

  await allSeeVideo(2, 25000, "every page plays the other two participants' video");
  check(true, "every page plays the other two participants' video, frames advancing");
  check(await until("a selected candidate pair on every connection", 10000, loopbackOnly), "every connection uses loopback candidates");
  // The rule against glare: of each pair, one side offered first and the
  // other answered; never two offers crossing.
  const firsts = await Promise.all(pages.map((page) =>
    page.evaluate(() => ({ id: window.switchboardMesh.sb.userId, first: window.sbFirstDescription }))));
  for (const [i, a] of firsts.entries())
    for (const b of firsts.slice(i + 1)) {
      const pair = [a.first[b.id], b.first[a.id]].sort().join("+");
      check(pair === "answer+offer", `${names[i]} and ${names[firsts.indexOf(b)]} began with one offer and its answer (${pair})`);
    }
  for (const [i, page] of pages.entries()) {
    const shown = (await tilesOf(page)).map((t) => t.name).sort();
    const want = names.filter((_, j) => j !== i).sort();
    check(JSON.stringify(shown) === JSON.stringify(want), `${names[i]}'s tiles are named ${want.join(", ")}`);
  }
  // Mute and camera off show on the others' tiles for Ada.
  await pages[0].click("#mute");
  await pages[0].click("#camera-off");
  await until("Ada's tile says muted, camera off", 5000, async () => {
    for (const page of pages.slice(1)) {
      const ada = (await page.locator("#tiles li", { hasText: "Ada" }).locator(".state").textContent()) || "";
      if (!ada.includes("muted") || !ada.includes("camera off")) return false;
    }
    return true;
  });
  check(true, "mute and camera off show on the others' tiles");
  await pages[0].click("#mute");
  await pages[0].click("#camera-off");
  await pages[1].click("#copy-link");
  const copied = await pages[1].evaluate(() => navigator.clipboard.readText());
  check(copied === `${api}/room/${roomId}`, `copy link copies the join link: ${copied}`);
  if (process.env.SB_SCREENSHOT) await pages[0].screenshot({ path: process.env.SB_SCREENSHOT });

  // A node drains: its pages reconnect through HAProxy to the other one
  // and resume: the same user ids, the same peer connections (no
  // renegotiation), and no participant ever shown as gone.
  const before = [];
  for (const page of pages)
    before.push(
      await page.evaluate(() => {
        const m = window.switchboardMesh;
        window.sbGone = 0;
        m.addEventListener("peer-removed", () => window.sbGone++);
        m.sb.addEventListener("user-left", () => window.sbGone++);
        for (const p of m.peers.values()) p.pc.sbKept = true;
        return m.sb.userId;
      }),
    );
  const where = await roomNodes(api, roomId);
  const victim = nodes.find((n) => where.includes(n.id));
  log(`SIGTERM to ${victim.id} (participants on ${where.join(", ")})`);
  victim.child.kill("SIGTERM");
  await until(`${victim.id} exits`, 15000, () => victim.child.exitCode !== null || victim.child.signalCode !== null);
  await until("every participant back in the room on the live node", 20000, async () => {
    const now = await roomNodes(api, roomId);
    return now.length === 3 && now.every((id) => id !== victim.id);
  });
  await allSeeVideo(2, 25000, "video flows again after the node's shutdown");
  check(true, "after SIGTERM to a node the pages reconnected by themselves and video flows again");
  for (const [i, page] of pages.entries()) {
    const r = await page.evaluate(() => {
      const m = window.switchboardMesh;
      const peers = [...m.peers.values()];
      return { id: m.sb.userId, gone: window.sbGone, n: peers.length, kept: peers.every((p) => p.pc.sbKept === true) };
    });
    check(
      r.id === before[i] && r.gone === 0 && r.n === 2 && r.kept,
      `${names[i]} resumed after the drain: same user id, same 2 peer connections, nobody shown as gone (${JSON.stringify(r)})`,
    );
  }

  // One leaves: the others' tiles for it go.
  const leaverId = await pages[2].evaluate(() => window.switchboardMesh.sb.userId);
  await pages[2].click("#mute"); // muted, then leaves: back in the lobby it stays muted
  await pages[2].click("#leave");
  const t0 = Date.now();
  await until("the leaver's tile goes on the other pages", 5000, async () => {
    for (const page of pages.slice(0, 2)) {
      const tiles = await tilesOf(page);
      if (tiles.length !== 1 || tiles.some((t) => t.id === leaverId)) return false;
    }
    return true;
  });
  check(true, `the leaver's tile went from the others' pages in ${Date.now() - t0} ms`);
  const lobby = await until("the leaver's lobby has its camera and microphone again", 10000, () =>
    pages[2].evaluate(() => {
      const audio = document.getElementById("preview").srcObject?.getAudioTracks()[0];
      if (!audio || audio.readyState !== "live" || document.getElementById("join").disabled) return null;
      return { enabled: audio.enabled, pressed: document.getElementById("mute").getAttribute("aria-pressed") };
    }));
  check(!lobby.enabled && lobby.pressed === "true",
        `after Leave the microphone stays muted as its button says (${JSON.stringify(lobby)})`);
  await pages[2].context().close();
  pages = pages.slice(0, 2);
  await allSeeVideo(1, 10000, "the two left still see each other");
  check(true, "the two left still see each other");
  // The call is done: its video would only slow the rest down.
  for (const page of pages.splice(0)) await page.context().close();

  await refusals(api);
  await withAuth(redisPort);
  check(cspViolations.length === 0, `no page broke its Content-Security-Policy ${cspViolations.join("; ")}`);
}

let cleaned = false;
async function cleanup(failed) {
  if (cleaned) return;
  cleaned = true;
  if (failed && pages.length + extraPages.length) {
    mkdirSync(outDir, { recursive: true });
    for (const [i, page] of [...pages, ...extraPages].entries()) {
      const file = path.join(outDir, `participant${i + 1}.png`);
      await page.screenshot({ path: file }).then(() => log("screenshot:", file), () => {});
    }
  }
  if (browser) await browser.close().catch(() => {});
  for (const { name, child, out } of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const deadline = Date.now() + 5000;
      while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) await sleep(50);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    if (failed) log(`--- ${name} log: ${out}`);
  }
  if (failed) {
    mkdirSync(outDir, { recursive: true });
    for (const { name, out } of children) {
      try {
        execFileSync("cp", [out, path.join(outDir, `${name}.log`)]);
      } catch {}
    }
  }
  rmSync(work, { recursive: true, force: true });
}

const timer = setTimeout(async () => {
  log(`the whole test took over ${TOTAL_MS} ms`);
  await cleanup(true);
  console.log(`${passed} passed, 1 failed`);
  process.exit(1);
}, TOTAL_MS);

try {
  await run();
  clearTimeout(timer);
  await cleanup(false);
  console.log(`${passed} passed, 0 failed`);
} catch (err) {
  clearTimeout(timer);
  if (cleaned) process.exit(1); // the time limit has already failed the test
  log("FAILED:", err.stack || err.message);
  await cleanup(true);
  console.log(`${passed} passed, 1 failed`);
  process.exitCode = 1;
}
