// The list of this key's jobs: filters, newest first, "Load more" follows the service's cursor;
// a column header sorts the rows loaded so far. Each row shows the job's thumbnail where it has one.
import { blobUrl, listJobs } from "./api.js";
import { clear, h } from "./dom.js";
import { STATUSES, VERDICTS, percent } from "./words.js";

const COLUMNS = [
  { title: "Created", value: (j) => j.created_at, show: (j) => new Date(j.created_at).toLocaleString() },
  { title: "File or URL", value: (j) => j.source.filename || j.source.uri || "", show: (j) => j.source.filename || j.source.uri || j.id },
  { title: "Status", value: (j) => j.status, show: (j) => STATUSES[j.status] || j.status },
  { title: "Verdict", value: (j) => j.verdict || "", show: (j) => (j.error ? j.error.code : VERDICTS[j.verdict]?.words || "") },
  { title: "Score", value: (j) => j.score ?? -1, show: (j) => percent(j.score) },
];

// A thumbnail is fetched once per job (with the key: an <img> cannot send it) and kept while the page lives.
const thumbnails = new Map();

function thumbnailCell(job) {
  const cell = h("td", { class: "thumb" });
  if (!job.thumbnail) return cell;
  if (!thumbnails.has(job.id)) thumbnails.set(job.id, blobUrl(job.thumbnail).catch(() => null));
  thumbnails.get(job.id).then((url) => url && cell.append(h("img", { src: url, alt: "", class: "thumbnail" })));
  return cell;
}

function batchCell(job, openBatch) {
  if (!job.batch_id) return h("td", {});
  return h("td", {}, h("a", { href: `?batch=${job.batch_id}`, class: "batch-link",
    onclick: (e) => { e.preventDefault(); openBatch(job.batch_id); } }, `batch ${job.batch_id.slice(0, 8)}`));
}

export function jobList(root, { open, openBatch, onError }) {
  const state = { rows: [], cursor: null, sort: null, descending: false };
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true, onclick: () => load(false) }, "Load more");
  const form = filterForm(() => load(true));

  function headerCell(column) {
    return h("th", { scope: "col" }, h("button", { type: "button", class: "sort", onclick: () => sortBy(column) }, column.title));
  }

  function sortBy(column) {
    state.descending = state.sort === column ? !state.descending : false;
    state.sort = column;
    render();
  }

  function render() {
    const rows = [...state.rows];
    if (state.sort) {
      const v = state.sort.value;
      rows.sort((a, b) => (v(a) < v(b) ? -1 : v(a) > v(b) ? 1 : 0) * (state.descending ? -1 : 1));
    }
    clear(body).append(...rows.map((job) => h("tr", { class: "job-row", "data-job-id": job.id }, thumbnailCell(job),
      COLUMNS.map((c, i) => (i === 1
        ? h("td", {}, h("a", { href: `?jobs=${job.id}`, onclick: (e) => { e.preventDefault(); open(job.id); } }, c.show(job)))
        : h("td", {}, c.show(job)))), batchCell(job, openBatch))));
    if (!rows.length) body.append(h("tr", {}, h("td", { colspan: COLUMNS.length + 2 }, "No jobs match.")));
    more.hidden = !state.cursor;
  }

  async function load(fresh) {
    try {
      const page = await listJobs({ ...Object.fromEntries(new FormData(form)), limit: 25, cursor: fresh ? null : state.cursor });
      state.rows = fresh ? page.items : [...state.rows, ...page.items];
      state.cursor = page.next_cursor;
      render();
    } catch (err) {
      onError(err);
    }
  }

  clear(root).append(form, h("table", { class: "job-list" }, h("caption", {}, "Your jobs, newest first"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Picture")),
      COLUMNS.map(headerCell), h("th", { scope: "col" }, "Batch"))), body), more);
  // Lists one batch's items: the batch filter set, everything else cleared.
  function showBatch(batchId) {
    form.reset();
    form.elements.batch_id.value = batchId;
    return load(true);
  }
  return { refresh: () => load(true), showBatch };
}

function choice(name, label, options) {
  return h("label", {}, label, " ", h("select", { name }, h("option", { value: "" }, "any"),
    Object.entries(options).map(([value, text]) => h("option", { value }, typeof text === "string" ? text : text.words))));
}

function filterForm(submit) {
  const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); submit(); } },
    choice("status", "Status", STATUSES), choice("verdict", "Verdict", VERDICTS),
    h("label", {}, "Created after ", h("input", { type: "date", name: "created_after" })),
    h("label", {}, "Created before ", h("input", { type: "date", name: "created_before" })),
    h("label", {}, "Batch ", h("input", { type: "text", name: "batch_id", size: 12 })),
    h("button", { type: "submit" }, "Show"));
  return form;
}
