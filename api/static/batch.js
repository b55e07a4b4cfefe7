// One batch (backlog) followed live: counts per status, progress, throughput and ETA, its items (each opens
// its result), and the export as CSV or JSON lines. The batch followed is in the address (?batch=id).
import { call, getBatch } from "./api.js";
import { clear, h } from "./dom.js";
import { STATUSES } from "./words.js";

const BATCH_ENDED = new Set(["completed", "canceled"]);
export const BATCH_STATUSES = { ingesting: "Taking in items", running: "Running", completed: "Finished", canceled: "Cancelled" };

export function duration(seconds) {
  if (seconds == null) return "not known yet";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function countsTable(batch) {
  const names = ["queued", "running", "succeeded", "failed", "canceled"];
  return h("table", { class: "batch-counts" }, h("caption", {}, `${batch.total} items`),
    h("thead", {}, h("tr", {}, names.map((n) => h("th", { scope: "col" }, STATUSES[n])))),
    h("tbody", {}, h("tr", {}, names.map((n) => h("td", { class: "num", "data-status": n }, batch.counts[n] ?? 0)))));
}

function facts(batch) {
  const rate = batch.throughput_per_s == null ? "–" : `${batch.throughput_per_s} items/s`;
  const eta = BATCH_ENDED.has(batch.status) ? "finished" : duration(batch.eta_s);
  return h("dl", { class: "batch-facts" },
    h("dt", {}, "Status"), h("dd", { class: "batch-status" }, BATCH_STATUSES[batch.status] || batch.status),
    h("dt", {}, "Progress"), h("dd", {}, h("progress", { max: 1, value: batch.progress }), ` ${Math.round(batch.progress * 100)} %`),
    h("dt", {}, "Speed"), h("dd", {}, rate),
    h("dt", {}, "Time left"), h("dd", { class: "batch-eta" }, eta),
    h("dt", {}, "Reused results"), h("dd", {}, String(batch.reused)));
}

// Every page of the export (X-Next-Cursor), joined into one file; CSV keeps the first page's header only.
export async function exportText(batchId, format) {
  const parts = [];
  let after = null;
  do {
    const query = new URLSearchParams({ format, ...(after ? { after } : {}) });
    const response = await call(`/v1/batches/${encodeURIComponent(batchId)}/results?${query}`);
    const text = await response.text();
    parts.push(parts.length && format === "csv" ? text.slice(text.indexOf("\n") + 1) : text);
    after = response.headers.get("X-Next-Cursor");
  } while (after);
  return parts.join("");
}

function exportButton(batchId, format, label, onError) {
  return h("button", { type: "button", class: `export export-${format}`, onclick: async () => {
    try {
      const type = format === "csv" ? "text/csv" : "application/x-ndjson";
      const url = URL.createObjectURL(new Blob([await exportText(batchId, format)], { type }));
      const link = h("a", { href: url, download: `batch-${batchId}.${format}`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      onError(err);
    }
  } }, label);
}

// Shows batch ``batchId`` in ``root`` and refreshes it (2 s, growing to 15 s) until it ends or another
// batch is shown. ``showItems(batchId)`` lists its items (the jobs list, filtered).
export function batchView(root, { onError, showItems }) {
  let shown = null;
  async function show(batchId) {
    shown = batchId;
    showItems(batchId);
    for (let wait = 2000; shown === batchId; wait = Math.min(15000, wait * 1.5)) {
      try {
        const batch = await getBatch(batchId);
        if (shown !== batchId) return;
        render(batch);
        if (BATCH_ENDED.has(batch.status)) return;
      } catch (err) {
        onError(err);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  function render(batch) {
    root.hidden = false;
    clear(root).append(h("h2", { id: "batch-title" }, `Batch ${batch.id}`), facts(batch), countsTable(batch),
      h("p", { class: "exports" }, "Download the results: ",
        exportButton(batch.id, "csv", "CSV", onError), " ", exportButton(batch.id, "jsonl", "JSON lines", onError)),
      h("p", { class: "note" }, "Its items are listed under Jobs below; choose one to see its result."));
  }
  return { show };
}
