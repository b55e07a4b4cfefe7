// A finished job drawn for a moderator: the verdict in words, the faces on the photo, every score.
import { blobUrl } from "./api.js";
import { h } from "./dom.js";
import { BANDS, VERDICTS, adviceFor, percent } from "./words.js";
import { timelineChart } from "./timeline.js";

const UNKNOWN_BAND = { words: "not scored", colour: "#555555", dash: "2 2" };
const band = (name) => BANDS[name] || UNKNOWN_BAND;

export function verdictBanner(result) {
  const verdict = VERDICTS[result.verdict] || { words: result.verdict, advice: "" };
  const score = result.verdict === "no_face" ? null : h("span", { class: "score" }, `highest face score ${percent(result.score)}`);
  return h("div", { class: `verdict verdict-${result.verdict}`, role: "status", "data-verdict": result.verdict },
    h("strong", {}, verdict.words), score, h("p", {}, verdict.advice));
}

export function errorPanel(error) {
  return h("div", { class: "error-panel", role: "alert", "data-code": error.code },
    h("strong", {}, `Could not be analysed (${error.code})`), h("p", {}, error.message),
    h("p", { class: "advice" }, `What to do: ${adviceFor(error.code)}`));
}

function faceBox(face, index, width) {
  const [x, y, w, hh] = face.box;
  const look = band(face.band);
  const stroke = Math.max(2, Math.round(width / 250));
  const dash = look.dash && look.dash.split(" ").map((n) => n * stroke).join(" ");
  const label = `${index + 1}: ${percent(face.score)} ${look.words}`;
  return h("g", { class: "face-box", "data-band": face.band },
    h("title", {}, `Face ${label}`),
    h("rect", { x, y, width: w, height: hh, fill: "none", stroke: look.colour, "stroke-width": stroke, "stroke-dasharray": dash }),
    h("text", { x, y: Math.max(y - stroke * 2, stroke * 8), fill: look.colour, "font-size": stroke * 8, class: "box-label" }, label));
}

// The photo with every face's box drawn over it, in the box's own pixel coordinates (the viewBox scales them).
export function photoFigure(result, src) {
  const { width, height } = result.media;
  const faces = result.faces || [];
  const svg = h("svg", { viewBox: `0 0 ${width} ${height}`, class: "photo", role: "img",
    "aria-label": `The photo with ${faces.length} face box${faces.length === 1 ? "" : "es"}` },
    src ? h("image", { href: src, width, height }) : h("rect", { width, height, fill: "#e5e5e5" }),
    faces.map((face, i) => faceBox(face, i, width)));
  const note = src ? null : h("figcaption", {}, "The photo is no longer stored; the boxes are drawn at their places.");
  return h("figure", {}, svg, note);
}

function modelNames(result) {
  return (result.models || []).map((m) => m.name);
}

function bandCell(name) {
  const look = band(name);
  // A class, not a style attribute: the page's Content-Security-Policy refuses inline styles.
  return h("td", {}, h("span", { class: `swatch swatch-${BANDS[name] ? name : "none"}` }), " ", look.words);
}

export function facesTable(result, what = "Face") {
  const names = modelNames(result);
  const rows = (result.faces || []).map((face, i) => h("tr", { class: "face-row" },
    h("th", { scope: "row" }, face.track != null ? `Person ${face.track}` : `${what} ${i + 1}`),
    h("td", { class: "num" }, percent(face.score)), bandCell(face.band),
    names.map((n) => h("td", { class: "num model-score" }, percent((face.model_scores || {})[n])))));
  return h("table", { class: "faces" },
    h("caption", {}, "Score: the calibrated probability that the face is manipulated"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, what), h("th", { scope: "col" }, "Score"),
      h("th", { scope: "col" }, "Band"), names.map((n) => h("th", { scope: "col" }, n)))),
    h("tbody", {}, rows));
}

// A face's Grad-CAM heatmap laid over the part of the photo the model saw, with an opacity slider.
function heatmapFigure(result, face, index, src) {
  const [x, y, w, hh] = face.heatmap.region;
  const heat = h("image", { x, y, width: w, height: hh, opacity: 0.6, preserveAspectRatio: "none", class: "heat" });
  blobUrl(face.heatmap.url).then((url) => url && heat.setAttribute("href", url)).catch(() => null);
  const photo = src ? h("image", { href: src, width: result.media.width, height: result.media.height }) : null;
  const slider = h("input", { type: "range", min: 0, max: 100, value: 60, class: "opacity",
    oninput: (e) => heat.setAttribute("opacity", e.target.value / 100) });
  return h("figure", { class: "heatmap" },
    h("svg", { viewBox: `${x} ${y} ${w} ${hh}`, role: "img", "aria-label": `Face ${index + 1} with its heatmap` }, photo, heat),
    h("figcaption", {}, `Face ${index + 1} (${percent(face.score)})`),
    h("label", {}, "Heatmap opacity ", slider));
}

export function heatmaps(result, src) {
  const explained = (result.faces || []).map((face, i) => [face, i]).filter(([face]) => face.heatmap);
  if (!explained.length) return null;
  return h("section", { class: "heatmaps" }, h("h4", {}, "What drove each score (Grad-CAM)"),
    h("p", { class: "note" }, "Warm colours mark the regions that raised this model's score for this face. "
      + "They do not prove those regions were edited, nor say by how much: each map is scaled to its own maximum, "
      + "and for a face scored likely authentic it shows what little evidence there was."),
    h("div", { class: "heatmap-row" }, explained.map(([face, i]) => heatmapFigure(result, face, i, src))));
}

export function modelsList(result) {
  const models = result.models || [];
  if (!models.length) return null;
  return h("details", { class: "models" }, h("summary", {}, `Models (${models.length})`),
    h("ul", {}, models.map((m) => h("li", {}, h("strong", {}, m.name), ` ${m.version}: ${m.detects || ""}`))));
}

function tracksTable(result) {
  return h("table", { class: "tracks" },
    h("caption", {}, "Each person on screen; only people seen long enough decide the verdict"),
    h("thead", {}, h("tr", {}, ["Person", "Verdict", "Score", "On screen", "Decides"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, (result.tracks || []).map((t) => h("tr", { class: "track-row" },
      h("th", { scope: "row" }, `Person ${t.id}`), bandCell(t.band), h("td", { class: "num" }, percent(t.score)),
      h("td", {}, `${t.start_s.toFixed(1)}–${t.end_s.toFixed(1)} s (${t.frames} frames)`),
      h("td", {}, t.counted ? "yes" : "no (seen briefly)")))));
}

export function videoView(result, src) {
  const player = src ? h("video", { src, controls: true, preload: "metadata", class: "player" })
    : h("p", { class: "note" }, "The video is no longer stored; the chart still shows its scores.");
  const seek = (t) => { if (src) { player.currentTime = t; player.focus(); } };
  return h("div", { class: "video-view" }, player, timelineChart(result, seek), tracksTable(result));
}

export function resultView(result, src) {
  const body = result.kind === "video"
    ? [videoView(result, src)]
    : [photoFigure(result, src), result.faces && result.faces.length ? facesTable(result) : null, heatmaps(result, src)];
  return h("div", { class: "result" }, verdictBanner(result), body, modelsList(result));
}
