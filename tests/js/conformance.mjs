// Drives a running Cogmill with the unmodified npm `replicate` client (pinned in package.json).
//
// Run by tests/api/test_js_client.py:
//   BASE_URL=http://127.0.0.1:PORT TOKEN=... WORK_DIR=... node conformance.mjs
// Optional: VERSIONS (JSON {"hello-world": id, ...}), EXPECTED_USERNAME (the token's account),
// ONLY (comma-separated check names).
//
// Prints one JSON line per check, {"check", "ok", "ms", "message"?}, then {"summary": {...}}.
// Every check asserts values. Nothing sleeps to synchronise: waits poll with deadlines.
//
// Client options, chosen deliberately:
// - baseUrl is BASE_URL + "/v1": the JS client joins every route onto it.
// - useFileOutput keeps its default (true), as users get it: `run` turns only `https:` and `data:`
//   strings into FileOutput streams, so Cogmill's plain-http file URLs must come back as strings
//   (checked in run-file-output-url).
// - fileEncodingStrategy keeps its default ("default"): a Blob input is uploaded with files.create
//   and replaced by its urls.get (checked in run-reader-blob-input).

import assert from "node:assert/strict";
import { createHash, webcrypto } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const Replicate = require("replicate");
const { validateWebhook } = require("replicate");
const ApiError = require("replicate/lib/error");
const clientVersion = require("replicate/package.json").version;

// Node 18 has no global WebCrypto, which validateWebhook uses by default (the client's docs say to
// supply node:crypto's webcrypto on Node 18); Node 20+ has it and this does nothing.
globalThis.crypto ??= webcrypto;

const BASE_URL = required("BASE_URL").replace(/\/$/, "");
const TOKEN = required("TOKEN");
const VERSIONS = JSON.parse(process.env.VERSIONS || "{}");
const ONLY = process.env.ONLY ? new Set(process.env.ONLY.split(",")) : null;
const WORK_DIR = mkdtempSync(join(process.env.WORK_DIR || tmpdir(), "js-conformance-"));
chmodSync(WORK_DIR, 0o755); // gate files here must be readable from the models' sandboxes
const CHECK_TIMEOUT_MS = 180_000;
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

const replicate = new Replicate({ auth: TOKEN, baseUrl: `${BASE_URL}/v1` });

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`conformance.mjs: set ${name}`);
    process.exit(2);
  }
  return value;
}

// -- helpers ---------------------------------------------------------------------------------

/** Poll `probe` until it returns a truthy value; throw after `seconds`. */
async function waitFor(probe, seconds, what, intervalMs = 100) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A gate file for testers/gated: the model streams "first " and then waits for it to exist. */
function openGate(name) {
  const path = join(WORK_DIR, name);
  writeFileSync(path, "");
  return path;
}

/** Await `promise`, expecting an ApiError; return it. */
async function apiError(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${error && error.stack}`);
    return error;
  }
  assert.fail("expected the call to fail with an ApiError");
}

function assertPrediction(p) {
  assert.match(p.id, /^[0-9a-z]{26}$/);
  assert.ok(["starting", "processing", "succeeded", "failed", "canceled"].includes(p.status), p.status);
  assert.equal(typeof p.version, "string");
  assert.equal(p.urls.get, `${BASE_URL}/v1/predictions/${p.id}`);
  assert.equal(p.urls.cancel, `${BASE_URL}/v1/predictions/${p.id}/cancel`);
  // As on Replicate, only predictions of models whose output is an iterator offer a stream.
  // The stream URL is a capability: it carries its own token.
  if (p.urls.stream !== undefined) assert.ok(p.urls.stream.startsWith(`${BASE_URL}/v1/predictions/${p.id}/stream?token=`), p.urls.stream);
  assert.match(p.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
}

// A local webhook receiver: records every request with its raw body.
class Receiver {
  constructor() {
    this.requests = [];
    this.server = createServer((req, res) => {
      const chunks = [];
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("end", () => {
        this.requests.push({
          method: req.method,
          url: req.url,
          headers: req.headers, // a plain object, names in lower case
          body: Buffer.concat(chunks).toString("utf8"),
        });
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end("ok");
      });
    });
  }

  listen() {
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  url(path = "/hook") {
    return `http://127.0.0.1:${this.server.address().port}${path}`;
  }

  close() {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

// -- checks ----------------------------------------------------------------------------------

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check("run-hello-world", async () => {
  assert.equal(await replicate.run("cogmill/hello-world", { input: { text: "x" } }), "hello x");
});

check("run-pinned-version", async () => {
  const version = VERSIONS["hello-world"];
  assert.ok(version, "VERSIONS must name hello-world's version");
  const output = await replicate.run(`cogmill/hello-world:${version}`, { input: { text: "pinned" } });
  assert.equal(output, "hello pinned");
});

check("run-poll-mode", async () => {
  // wait: {mode: "poll"} creates without Prefer: wait and polls predictions.get until done.
  const seen = [];
  const output = await replicate.run(
    "cogmill/hello-world",
    { input: { text: "polled" }, wait: { mode: "poll", interval: 50 } },
    (prediction) => seen.push(prediction.status)
  );
  assert.equal(output, "hello polled");
  assert.equal(seen.at(-1), "succeeded");
});

check("run-iterator-gated", async () => {
  const gate = openGate("run-iterator");
  const output = await replicate.run("testers/gated", { input: { gate, tokens: 2 } });
  assert.deepEqual(output, ["first ", "t0 ", "t1 "]);
});

check("run-short-block-wait-polls-after-it", async () => {
  // wait: {mode: "block", timeout: 1} sends Prefer: wait=1. Cogmill answers `starting` with no
  // output by then; the client polls, and every chunk comes back (the first one included).
  const gate = join(WORK_DIR, "short-wait");
  const started = Date.now();
  const running = replicate.run("testers/gated", { input: { gate, tokens: 2 }, wait: { mode: "block", timeout: 1 } });
  await waitFor(async () => {
    if (Date.now() - started < 1600) return false;
    const latest = (await replicate.predictions.list()).results[0];
    return latest.status === "processing" && latest.output;
  }, 120, "the run to be past its first answer");
  writeFileSync(gate, "");
  assert.deepEqual(await running, ["first ", "t0 ", "t1 "]);
});

check("run-iterator-textgen", async () => {
  const output = await replicate.run("cogmill/textgen", {
    input: { prompt: "The ", max_tokens: 60, seed: 7 },
  });
  assert.ok(Array.isArray(output), `expected an array of chunks, got ${JSON.stringify(output)}`);
  assert.ok(output.length > 1, `expected several chunks, got ${output.length}`);
  assert.ok(output.every((chunk) => typeof chunk === "string"));
  const text = output.join("");
  assert.ok(text.length > 0 && text.length <= 60 + "The ".length, `text length ${text.length}`);
  assert.match(text, /[a-z]/i);
});

check("run-failing-model-throws", async () => {
  await assert.rejects(
    replicate.run("testers/failing", { input: { reason: "kaput" } }),
    (error) => {
      assert.ok(!(error instanceof ApiError), "a failed prediction is not an HTTP error");
      assert.match(error.message, /^Prediction failed: .*kaput/s);
      return true;
    }
  );
});

check("run-file-output-url", async () => {
  const output = await replicate.run("testers/files", { input: { text: "file body" } });
  // http: URLs are not wrapped in FileOutput (only https: and data: are): a plain string.
  assert.equal(typeof output, "string");
  assert.match(output, /^http:\/\//);
  assert.ok(output.startsWith(BASE_URL), output);
  const withoutAuth = await fetch(output);
  assert.equal(withoutAuth.status, 200);
  assert.equal(await withoutAuth.text(), "file body");
  const withAuth = await fetch(output, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(await withAuth.text(), "file body");
});

check("stream-textgen", async () => {
  const events = [];
  const lengths = [];
  let text = "";
  for await (const event of replicate.stream("cogmill/textgen", {
    input: { prompt: "The ", max_tokens: 120, seed: 7 },
  })) {
    events.push(event);
    if (event.event === "output") {
      text += String(event); // ServerSentEvent.toString() is the data of an output event
      lengths.push(text.length);
    }
  }
  const names = events.map((e) => e.event);
  assert.ok(names.every((n) => ["output", "logs", "done"].includes(n)), names.join(","));
  assert.equal(names.at(-1), "done", "the stream ends with done");
  assert.equal(names.filter((n) => n === "done").length, 1);
  assert.ok(lengths.length > 5, `expected several output events, got ${lengths.length}`);
  for (let i = 1; i < lengths.length; i++) {
    assert.ok(lengths[i] > lengths[i - 1], "every output event adds text");
  }
  assert.ok(text.length > 0 && text.length <= 120 + "The ".length, `text length ${text.length}`);
  assert.match(text, /[a-z]/i);
  const ids = events.map((e) => e.id);
  assert.ok(ids.every((id) => typeof id === "string" && id.length > 0), "every event has an id");
  assert.equal(new Set(ids).size, ids.length, "event ids are distinct");
});

check("stream-unsupported-model-throws", async () => {
  // hello-world returns one string: no urls.stream, so the client refuses to stream it, as against Replicate.
  const created = await replicate.predictions.create({ model: "cogmill/hello-world", input: { text: "s" } });
  assert.equal(created.urls.stream, undefined);
  await assert.rejects(async () => {
    for await (const event of replicate.stream("cogmill/hello-world", { input: { text: "s" } })) {
      assert.fail(`unexpected event ${event.event}`);
    }
  }, /does not support streaming/);
  const streaming = await replicate.predictions.create({ model: "cogmill/textgen", input: { prompt: "a", max_tokens: 3 } });
  assert.ok(streaming.urls.stream.startsWith(`${BASE_URL}/v1/predictions/${streaming.id}/stream?token=`));
});

check("stream-gated-exact-chunks", async () => {
  const gate = openGate("stream-gated");
  const outputs = [];
  let last;
  for await (const event of replicate.stream("testers/gated", { input: { gate, tokens: 2 } })) {
    if (event.event === "output") outputs.push(event.data);
    last = event;
  }
  assert.deepEqual(outputs, ["first ", "t0 ", "t1 "]);
  assert.equal(last.event, "done");
});

check("predictions-create-and-wait", async () => {
  const version = VERSIONS["hello-world"];
  assert.ok(version, "VERSIONS must name hello-world's version");
  const created = await replicate.predictions.create({ version, input: { text: "poll" } });
  assertPrediction(created);
  assert.equal(created.status, "starting");
  assert.equal(created.model, "cogmill/hello-world");
  assert.equal(created.version, version);
  assert.deepEqual(created.input, { text: "poll" });
  const done = await replicate.wait(created, { interval: 50 });
  assert.equal(done.id, created.id);
  assert.equal(done.status, "succeeded");
  assert.equal(done.output, "hello poll");
  assert.equal(done.error, null);
  assert.ok(done.started_at && done.completed_at);
  assert.equal(typeof done.metrics.predict_time, "number");
  const fetched = await replicate.predictions.get(created.id);
  assert.equal(fetched.status, "succeeded");
  assert.equal(fetched.output, "hello poll");
});

check("predictions-create-by-model-with-block-wait", async () => {
  // `wait: true` sends Prefer: wait; the answer is final, with the output.
  const p = await replicate.predictions.create({
    model: "cogmill/hello-world",
    input: { text: "sync" },
    wait: true,
  });
  assertPrediction(p);
  assert.equal(p.status, "succeeded");
  assert.equal(p.output, "hello sync");
});

check("predictions-cancel", async () => {
  const gate = join(WORK_DIR, "never-opened");
  const p = await replicate.predictions.create({ model: "testers/gated", input: { gate } });
  await waitFor(
    async () => (await replicate.predictions.get(p.id)).output,
    120,
    "the gated model's first token"
  );
  const canceled = await replicate.predictions.cancel(p.id);
  assert.equal(canceled.id, p.id);
  const done = await replicate.wait(canceled, { interval: 50 });
  assert.equal(done.status, "canceled");
  assert.deepEqual(done.output, ["first "]);
});

check("models-get", async () => {
  const model = await replicate.models.get("cogmill", "hello-world");
  assert.equal(model.owner, "cogmill");
  assert.equal(model.name, "hello-world");
  assert.equal(model.visibility, "public");
  assert.equal(model.url, `${BASE_URL}/cogmill/hello-world`);
  assert.equal(typeof model.run_count, "number");
  assert.ok(Number.isInteger(model.run_count) && model.run_count >= 1, `run_count ${model.run_count}`);
  if (VERSIONS["hello-world"]) assert.equal(model.latest_version.id, VERSIONS["hello-world"]);
  assert.equal(typeof model.latest_version.id, "string");
  assert.equal(model.latest_version.openapi_schema.components.schemas.Input.properties.text.type, "string");
});

check("models-versions", async () => {
  const page = await replicate.models.versions.list("cogmill", "hello-world");
  assert.ok(page.results.length >= 1);
  const ids = page.results.map((v) => v.id);
  if (VERSIONS["hello-world"]) assert.ok(ids.includes(VERSIONS["hello-world"]), ids.join(","));
  const version = await replicate.models.versions.get("cogmill", "hello-world", ids[0]);
  assert.equal(version.id, ids[0]);
  assert.equal(typeof version.cog_version, "string");
  assert.ok(version.openapi_schema.components.schemas.Output);
});

check("models-search", async () => {
  // The JS client sends the search text JSON-quoted ("hello-world"): it must still find the model.
  const page = await replicate.models.search("hello-world");
  const names = page.results.map((m) => `${m.owner}/${m.name}`);
  assert.ok(names.includes("cogmill/hello-world"), names.join(","));
});

check("models-list-public-latest-version-first", async () => {
  const page = await replicate.models.list();
  const names = page.results.map((m) => `${m.owner}/${m.name}`);
  assert.ok(names.includes("cogmill/hello-world"), names.join(","));
  assert.ok(page.results.every((m) => m.visibility === "public"), "only public models");
  const hello = page.results.find((m) => m.owner === "cogmill" && m.name === "hello-world");
  assert.equal(hello.is_official, true);
  // newest latest version first; a model with none yet sorts by its own creation
  const stamps = page.results.map((m) => Date.parse(m.latest_version ? m.latest_version.created_at : m.created_at));
  for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i - 1] >= stamps[i], `order at ${names[i]}`);
});

check("accounts-current", async () => {
  const account = await replicate.accounts.current();
  assert.equal(account.type, "user");
  assert.equal(account.username, process.env.EXPECTED_USERNAME || account.username);
  assert.equal(typeof account.name, "string");
  const avatar = await fetch(account.avatar_url);
  assert.equal(avatar.status, 200);
  assert.equal(avatar.headers.get("content-type"), "image/svg+xml");
});

check("files-create-get-list-delete", async () => {
  const content = `cogmill js conformance ${Date.now()}\n`;
  const bytes = Buffer.from(content, "utf8");
  const created = await replicate.files.create(bytes, { purpose: "js-conformance", n: 1 });
  assert.match(created.id, /^[0-9a-z]+$/);
  assert.equal(created.size, bytes.length);
  assert.equal(created.checksums.sha256, createHash("sha256").update(bytes).digest("hex"));
  assert.equal(created.checksums.md5, createHash("md5").update(bytes).digest("hex"));
  assert.equal(created.content_type, "application/octet-stream");
  assert.match(created.name, /^buffer_\d+$/);
  assert.deepEqual(created.metadata, { purpose: "js-conformance", n: 1 });
  assert.equal(created.urls.get, `${BASE_URL}/v1/files/${created.id}`);

  const fetched = await replicate.files.get(created.id);
  assert.equal(fetched.id, created.id);
  assert.equal(fetched.checksums.sha256, created.checksums.sha256);
  const listed = await replicate.files.list();
  assert.ok(listed.results.some((f) => f.id === created.id), "files.list includes the upload");

  const download = await fetch(`${BASE_URL}/v1/files/${created.id}/download`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(download.status, 200);
  assert.equal(await download.text(), content);

  assert.equal(await replicate.files.delete(created.id), true);
  const gone = await apiError(replicate.files.get(created.id));
  assert.equal(gone.response.status, 404);
});

check("files-create-blob-then-run-reader", async () => {
  const content = "read me back, please\nline two\n";
  const blob = new Blob([content], { type: "text/plain" });
  const file = await replicate.files.create(blob);
  assert.equal(file.size, Buffer.byteLength(content));
  assert.equal(file.content_type, "text/plain");
  assert.equal(file.checksums.sha256, createHash("sha256").update(content).digest("hex"));
  assert.deepEqual(file.metadata, {});
  if (!VERSIONS.reader) return; // testers/reader not pushed: the upload alone is checked
  const output = await replicate.run("testers/reader", { input: { file: file.urls.get } });
  assert.equal(output, content);
});

check("run-reader-blob-input", async () => {
  if (!VERSIONS.reader) return;
  // The default fileEncodingStrategy uploads a Blob input with files.create, then sends urls.get.
  const content = "uploaded by the client itself\n";
  const output = await replicate.run("testers/reader", {
    input: { file: new Blob([content], { type: "text/plain" }) },
  });
  assert.equal(output, content);
});

check("paginate-predictions", async () => {
  // Enough predictions for a second page (100 a page): this account is the suite's own.
  const wanted = 105;
  const created = [];
  for (let batch = 0; created.length < wanted; batch++) {
    const n = Math.min(15, wanted - created.length);
    const made = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        replicate.predictions.create({
          model: "cogmill/hello-world",
          input: { text: `page ${batch}.${i}` },
        })
      )
    );
    created.push(...made.map((p) => p.id));
  }

  const pages = [];
  for await (const page of replicate.paginate(replicate.predictions.list)) {
    pages.push(page);
    assert.ok(pages.length < 100, "paginate does not terminate");
  }
  const all = pages.flat();
  const ids = all.map((p) => p.id);
  assert.ok(pages.length >= 2, `expected at least two pages, got ${pages.length}`);
  assert.equal(pages[0].length, 100);
  for (const page of pages.slice(0, -1)) assert.equal(page.length, 100);
  assert.ok(pages.at(-1).length >= 1);
  assert.equal(new Set(ids).size, ids.length, "no prediction appears twice");
  const listed = new Set(ids);
  for (const id of created) assert.ok(listed.has(id), `prediction ${id} missing from the pages`);
  const stamps = all.map((p) => p.created_at);
  for (let i = 1; i < stamps.length; i++) {
    assert.ok(stamps[i - 1] >= stamps[i], "newest first across pages");
  }
  all.forEach(assertPrediction);

  // Leave no backlog behind: every created prediction finishes.
  const pending = new Set(created);
  await waitFor(
    async () => {
      for await (const page of replicate.paginate(replicate.predictions.list)) {
        for (const p of page) {
          if (pending.has(p.id) && TERMINAL.has(p.status)) {
            assert.equal(p.status, "succeeded", `${p.id}: ${p.error}`);
            pending.delete(p.id);
          }
        }
      }
      return pending.size === 0;
    },
    150,
    "the pagination predictions to finish",
    250
  );
});

check("trainings-create-get-list-cancel", async () => {
  // Fine-tune textgen on the sample corpus into a model of our own, then cancel a long one.
  const version = VERSIONS.textgen;
  assert.ok(version, "VERSIONS must name textgen's version");
  const me = (await replicate.accounts.current()).username;
  const name = `tuned-${Date.now()}`;
  await replicate.models.create(me, name, { visibility: "private", hardware: "cpu" });
  const corpus = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "examples", "textgen",
    "samples", "proverbs.txt"));
  const data = (await replicate.files.create(corpus, { purpose: "training" })).urls.get;
  const created = await replicate.trainings.create("cogmill", "textgen", version, {
    destination: `${me}/${name}`, input: { data, steps: 20 },
  });
  assert.equal(created.status, "starting");
  assert.equal(created.destination, `${me}/${name}`);
  const done = await waitFor(async () => {
    const t = await replicate.trainings.get(created.id);
    return TERMINAL.has(t.status) && t;
  }, 170, "the training to finish", 200);
  assert.equal(done.status, "succeeded", done.error || done.logs);
  assert.match(done.output.version, new RegExp(`^${me}/${name}:[0-9a-f]{64}$`));
  assert.match(done.logs, /step 20\/20 loss \d/);
  const listed = await replicate.trainings.list();
  assert.ok(listed.results.some((t) => t.id === created.id), "the training is listed");

  const long = await replicate.trainings.create("cogmill", "textgen", version, {
    destination: `${me}/${name}`, input: { data, steps: 5000 },
  });
  await waitFor(async () => (await replicate.trainings.get(long.id)).logs?.includes("step "), 170, "its first steps");
  await replicate.trainings.cancel(long.id);
  const canceled = await waitFor(async () => {
    const t = await replicate.trainings.get(long.id);
    return TERMINAL.has(t.status) && t;
  }, 60, "the canceled training to end", 200);
  assert.equal(canceled.status, "canceled");
});

check("deployments-create-get-list-update-run-delete", async () => {
  // A deployment of hello-world: every deployments.* call, and a run through it.
  const version = VERSIONS["hello-world"];
  const me = (await replicate.accounts.current()).username;
  const name = `hello-${Date.now()}`;
  const created = await replicate.deployments.create({
    name, model: "cogmill/hello-world", version, hardware: "cpu", min_instances: 0, max_instances: 1,
  });
  assert.equal(created.owner, me);
  assert.equal(created.current_release.number, 1);
  assert.deepEqual(created.current_release.configuration, { hardware: "cpu", min_instances: 0, max_instances: 1 });
  assert.equal((await replicate.deployments.get(me, name)).current_release.version, version);
  const listed = await replicate.deployments.list();
  assert.ok(listed.results.some((d) => d.name === name), "the deployment is listed");
  const updated = await replicate.deployments.update(me, name, { max_instances: 2 });
  assert.equal(updated.current_release.number, 2);
  assert.equal(updated.current_release.configuration.max_instances, 2);
  let prediction = await replicate.deployments.predictions.create(me, name, { input: { text: "js" }, wait: true });
  assert.equal(prediction.deployment, `${me}/${name}`);
  prediction = await replicate.wait(prediction, { interval: 200 });
  assert.equal(prediction.status, "succeeded", prediction.error || prediction.logs);
  assert.equal(prediction.output, "hello js");
  assert.equal(await replicate.deployments.delete(me, name), true);
  await assert.rejects(replicate.deployments.get(me, name), (err) => err.response?.status === 404);
});

check("webhook-validate", async () => {
  const receiver = new Receiver();
  await receiver.listen();
  try {
    const secret = await replicate.webhooks.default.secret.get();
    assert.match(secret.key, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.equal(Buffer.from(secret.key.slice("whsec_".length), "base64").length, 32);
    assert.equal((await replicate.webhooks.default.secret.get()).key, secret.key, "the secret is stable");

    const p = await replicate.predictions.create({
      model: "cogmill/hello-world",
      input: { text: "hooked" },
      webhook: receiver.url("/hook"),
    });
    const completed = await waitFor(
      () => receiver.requests.find((r) => JSON.parse(r.body).status === "succeeded"),
      120,
      "the completed webhook"
    );
    const body = JSON.parse(completed.body);
    assert.equal(completed.method, "POST");
    assert.equal(completed.url, "/hook");
    assert.equal(completed.headers["content-type"], "application/json");
    assert.equal(body.id, p.id);
    assert.equal(body.output, "hello hooked");
    assert.deepEqual(body, await replicate.predictions.get(p.id));

    assert.ok(receiver.requests.length >= 1);
    for (const request of receiver.requests) {
      // The request-object form: headers + raw body, secret as the second argument.
      assert.equal(await validateWebhook({ headers: request.headers, body: request.body }, secret.key), true);
      // The same with a fetch Headers object.
      assert.equal(
        await validateWebhook({ headers: new Headers(request.headers), body: request.body }, secret.key),
        true
      );
    }
    // The explicit form.
    const fields = {
      id: completed.headers["webhook-id"],
      timestamp: completed.headers["webhook-timestamp"],
      signature: completed.headers["webhook-signature"],
      secret: secret.key,
    };
    assert.match(fields.id, /\S/);
    assert.ok(Math.abs(Number(fields.timestamp) - Date.now() / 1000) < 600, "timestamp is unix seconds");
    assert.match(fields.signature, /^v1,[A-Za-z0-9+/]+=*( |$)/);
    assert.equal(await validateWebhook({ ...fields, body: completed.body }), true);

    // Tampering with anything signed fails validation.
    const tampered = completed.body.replace("hello hooked", "hello hacked");
    assert.notEqual(tampered, completed.body);
    assert.equal(await validateWebhook({ ...fields, body: tampered }), false);
    assert.equal(await validateWebhook({ headers: completed.headers, body: tampered }, secret.key), false);
    assert.equal(await validateWebhook({ ...fields, id: `${fields.id}x`, body: completed.body }), false);
    const later = String(Number(fields.timestamp) + 1);
    assert.equal(await validateWebhook({ ...fields, timestamp: later, body: completed.body }), false);
    const otherSecret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    assert.equal(await validateWebhook({ ...fields, secret: otherSecret, body: completed.body }), false);
  } finally {
    await receiver.close();
  }
});

check("error-bad-token-401", async () => {
  const bad = new Replicate({ auth: "cm_not-a-real-token", baseUrl: `${BASE_URL}/v1` });
  const error = await apiError(bad.run("cogmill/hello-world", { input: { text: "x" } }));
  assert.equal(error.response.status, 401);
  assert.match(error.message, /You did not pass a valid authentication token/);
  assert.equal(error.response.headers.get("content-type"), "application/problem+json");
  const noAuth = await apiError(
    new Replicate({ auth: "", baseUrl: `${BASE_URL}/v1` }).accounts.current()
  );
  assert.equal(noAuth.response.status, 401);
});

check("error-unknown-model-404", async () => {
  const run = await apiError(replicate.run("cogmill/no-such-model", { input: {} }));
  assert.equal(run.response.status, 404);
  assert.equal(run.response.headers.get("content-type"), "application/problem+json");
  const get = await apiError(replicate.models.get("cogmill", "no-such-model"));
  assert.equal(get.response.status, 404);
  const prediction = await apiError(replicate.predictions.get("0".repeat(26)));
  assert.equal(prediction.response.status, 404);
});

check("error-invalid-input-422", async () => {
  const error = await apiError(
    replicate.run("cogmill/textgen", { input: { prompt: "x", temperature: 99 } })
  );
  assert.equal(error.response.status, 422);
  assert.match(error.message, /temperature/);
});

// -- runner ----------------------------------------------------------------------------------

function withTimeout(promise, ms, name) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} took longer than ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(error) {
  if (error instanceof ApiError) return `${error.name} ${error.response.status}: ${error.message}`;
  return (error && error.stack) || String(error);
}

const results = [];
try {
  for (const { name, fn } of checks) {
    if (ONLY && !ONLY.has(name)) continue;
    const started = Date.now();
    let result;
    try {
      await withTimeout(fn(), CHECK_TIMEOUT_MS, name);
      result = { check: name, ok: true, ms: Date.now() - started };
    } catch (error) {
      result = { check: name, ok: false, ms: Date.now() - started, message: describe(error) };
    }
    results.push(result);
    console.log(JSON.stringify(result));
  }
} finally {
  rmSync(WORK_DIR, { recursive: true, force: true });
}
const failed = results.filter((r) => !r.ok).map((r) => r.check);
console.log(
  JSON.stringify({
    summary: {
      client: `replicate@${clientVersion}`,
      total: results.length,
      passed: results.length - failed.length,
      failed,
    },
  })
);
process.exit(failed.length ? 1 : 0);
