// The page: enter a key, send files or URLs, follow each job, read the result, open a batch from the list of
// batches; the jobs being followed (and the batch shown) are in the address (?jobs=id,id&batch=id), so a
// reload or a shared link shows them again.
import { final, follow, key, mediaUrl, submitUrl, uploadFile } from "./api.js";
import { batchView } from "./batch.js";
import { batchList } from "./batches.js";
import { clear, h } from "./dom.js";
import { jobList } from "./jobs.js";
import { errorPanel, resultView } from "./result.js";
import { STATUSES, adviceFor } from "./words.js";

const $ = (id) => document.getElementById(id);
// DEEPFAKE_AUTH=off (loopback only): the service takes no key, so none is asked for (filled in as served).
const AUTH_OFF = document.documentElement.dataset.auth === "off";
// Job IDs are UUIDs (core/jobs.py): anything else in ?jobs= is a typo or a cut link, and is never asked for.
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function followedIds() {
  return (new URLSearchParams(location.search).get("jobs") || "").split(",").filter(Boolean);
}

function setParam(name, value) {
  const params = new URLSearchParams(location.search);
  params.set(name, value);
  // Commas left readable: the address is meant to be shared and read.
  history.replaceState(null, "", `?${params.toString().replaceAll("%2C", ",")}`);
}

function remember(id) {
  setParam("jobs", [id, ...followedIds().filter((known) => known !== id)].slice(0, 20).join(","));
}

function openBatch(batchId) {
  setParam("batch", batchId);
  batches.show(batchId);
  $("batch").scrollIntoView();
}

function showMessage(err) {
  const box = $("message");
  clear(box).append(h("strong", {}, err.message), " ", adviceFor(err.code));
  box.hidden = false;
  if (err.status === 401) showKeyForm("That key was not accepted. " + adviceFor("unauthorized"));
}

// One card per job: what was sent, its state, then its result or its error.
function jobCard(title) {
  const status = h("span", { class: "status" }, "Sending…");
  const bar = h("progress", { max: 1, value: 0 });
  const body = h("div", { class: "card-body" });
  const heading = h("h3", {}, title);
  const card = h("article", { class: "job-card" }, h("header", {}, heading, status, bar), body);
  $("cards").prepend(card);
  return { card, heading, status, bar, body };
}

// What was sent, in words: the file's name or the link (a card opened from an address knows only the ID).
function sourceName(source) {
  return (source && (source.filename || source.uri)) || null;
}

async function showJob(view, job) {
  view.card.dataset.jobId = job.id;
  view.card.dataset.status = job.status;
  view.heading.textContent = sourceName(job.source) || view.heading.textContent;
  view.status.textContent = STATUSES[job.status] || job.status;
  view.bar.value = job.progress;
  view.bar.hidden = job.status !== "running" && job.status !== "queued";
  if (job.status === "succeeded" && job.result) {
    const src = job.source.kind === "upload" ? await mediaUrl(job.id).catch(() => null) : null;
    clear(view.body).append(resultView(job.result, src, job.id, job.source.kind));
  } else if (job.error) {
    clear(view.body).append(errorPanel(job.error));
  } else if (job.status === "succeeded") {
    clear(view.body).append(h("p", {}, "The result was purged after the retention period."));
  }
}

// A card that will show no job: why, in place of a status and a progress bar.
function noJob(view, status, code, text) {
  view.card.dataset.status = code;
  view.status.textContent = status;
  view.bar.hidden = true;
  clear(view.body).append(h("div", { class: "error-panel", role: "alert", "data-code": code }, h("p", {}, text)));
}

function track(view, jobId) {
  remember(jobId);
  return follow(jobId, (job, err) => {
    if (job) return showJob(view, job);
    if (err.status === 404) {
      return noJob(view, "Not found", "not_found", `No job ${jobId} for this key: it was deleted, or it is ` +
        "another team's. Check the link, or the key you entered.");
    }
    clear(view.body).append(errorPanel({ code: err.code, message: err.message }));
    if (final(err)) {
      view.status.textContent = "Cannot be shown";
      view.bar.hidden = true;
    }
  });
}

async function send(title, submit) {
  const view = jobCard(title);
  try {
    const job = await submit();
    await showJob(view, job);
    await track(view, job.id);
    lists.refresh();
  } catch (err) {
    view.status.textContent = "Not accepted";
    view.bar.hidden = true;
    clear(view.body).append(errorPanel({ code: err.code, message: err.message }));
  }
}

const options = () => ({ explain: $("explain").checked });

function sendFiles(files) {
  for (const file of files) send(file.name, () => uploadFile(file, options()));
}

function openJob(jobId) {
  const existing = document.querySelector(`.job-card[data-job-id="${CSS.escape(jobId)}"]`);
  if (existing) return existing.scrollIntoView();
  const view = jobCard(`Job ${jobId}`);
  view.card.dataset.jobId = jobId;
  if (JOB_ID.test(jobId)) track(view, jobId);
  else noJob(view, "Not a job ID", "invalid_id", `“${jobId}” is not a job ID: a job's ID has 36 characters, ` +
    "like 0b7f4c1e-5d2a-4c3b-9e8f-1a2b3c4d5e6f. Check the link you were given.");
  view.card.scrollIntoView();
}

function wireUpload() {
  const zone = $("drop"), input = $("files");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); sendFiles(e.dataTransfer.files); });
  input.addEventListener("change", () => { sendFiles(input.files); input.value = ""; });
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $("url").value.trim();
    if (url) send(url, () => submitUrl(url, options()));
    $("url").value = "";
  });
}

function showKeyForm(why) {
  $("key-why").textContent = why || "";
  $("key-section").hidden = false;
  $("main").hidden = true;
  $("key").focus();
}

function start() {
  $("key-section").hidden = true;
  $("main").hidden = false;
  $("message").hidden = true;
  const batchId = new URLSearchParams(location.search).get("batch");
  if (batchId) openBatch(batchId); else lists.refresh();
  recentBatches.refresh();
  followedIds().reverse().forEach(openJob);
}

const lists = jobList($("list"), { open: openJob, openBatch, onError: showMessage });
const batches = batchView($("batch"), { onError: showMessage, showItems: (id) => lists.showBatch(id) });
const recentBatches = batchList($("batches"), { openBatch, onError: showMessage });
$("batch-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const batchId = $("batch-id").value.trim();
  if (batchId) openBatch(batchId);
});

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  key.set($("key").value);
  $("key").value = "";
  start();
});
$("forget-key").addEventListener("click", () => { key.clear(); clear($("cards")); showKeyForm(); });
$("forget-key").hidden = AUTH_OFF;
wireUpload();
if (key.get() || AUTH_OFF) start(); else showKeyForm();
