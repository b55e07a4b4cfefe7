// The list of this key's batches (backlogs), newest first: each one's status, progress and counts as the
// service reports them, "Load more" following its cursor. Choosing a batch opens it in the batch view.
import { listBatches } from "./api.js";
import { BATCH_STATUSES } from "./batch.js";
import { clear, h } from "./dom.js";

function batchRow(batch, openBatch) {
  const open = h("a", { href: `?batch=${batch.id}`, class: "batch-open", title: batch.id,
    onclick: (e) => { e.preventDefault(); openBatch(batch.id); } }, `batch ${batch.id.slice(0, 8)}`);
  return h("tr", { class: "batch-row", "data-batch-id": batch.id, "data-status": batch.status },
    h("td", {}, new Date(batch.created_at).toLocaleString()), h("td", {}, open),
    h("td", {}, BATCH_STATUSES[batch.status] || batch.status),
    h("td", {}, h("progress", { max: 1, value: batch.progress }), ` ${Math.round(batch.progress * 100)} %`),
    h("td", { class: "num" }, batch.total), h("td", { class: "num" }, batch.counts.failed ?? 0));
}

export function batchList(root, { openBatch, onError }) {
  const state = { rows: [], cursor: null };
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true, onclick: () => load(false) }, "Load more");
  const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); load(true); } },
    h("label", {}, "Status ", h("select", { name: "status" }, h("option", { value: "" }, "any"),
      Object.entries(BATCH_STATUSES).map(([value, words]) => h("option", { value }, words)))),
    h("button", { type: "submit" }, "Show"));

  function render() {
    clear(body).append(...state.rows.map((batch) => batchRow(batch, openBatch)));
    if (!state.rows.length) body.append(h("tr", {}, h("td", { colspan: 6 }, "No batches yet.")));
    more.hidden = !state.cursor;
  }

  async function load(fresh) {
    try {
      const page = await listBatches({ status: form.elements.status.value, limit: 10, cursor: fresh ? null : state.cursor });
      state.rows = fresh ? page.items : [...state.rows, ...page.items];
      state.cursor = page.next_cursor;
      render();
    } catch (err) {
      onError(err);
    }
  }

  const heads = ["Created", "Batch", "Status", "Progress", "Items", "Failed"];
  clear(root).append(form, h("table", { class: "batch-list" }, h("caption", {}, "Your batches, newest first"),
    h("thead", {}, h("tr", {}, heads.map((title) => h("th", { scope: "col" }, title)))), body), more);
  return { refresh: () => load(true) };
}
