// A finished job drawn for a moderator: the verdict in words, the faces on the photo, every score.
import { askLime, blobUrl, whenStored } from "./api.js";
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

// Why a job's media is not shown: a URL or S3 job never kept it; an upload's was deleted or purged.
function notKept(what, sourceKind) {
  return sourceKind === "url" || sourceKind === "s3" ? `The ${what} was read from its link and never kept here`
    : `The ${what} is no longer stored`;
}

// The photo with every face's box drawn over it, in the box's own pixel coordinates (the viewBox scales them).
// Without the photo, its thumbnail (when the job has one) stretched to the photo's size, else a grey ground.
export function photoFigure(result, src, sourceKind = "upload") {
  const { width, height } = result.media;
  const faces = result.faces || [];
  const ground = src ? h("image", { href: src, width, height })
    : result.thumbnail ? keyedImage(result.thumbnail, { width, height, preserveAspectRatio: "none", class: "thumb" })
      : h("rect", { width, height, fill: "#e5e5e5" });
  const svg = h("svg", { viewBox: `0 0 ${width} ${height}`, class: "photo", role: "img",
    "aria-label": `The photo with ${faces.length} face box${faces.length === 1 ? "" : "es"}` },
    ground, faces.map((face, i) => faceBox(face, i, width)));
  const shown = result.thumbnail ? "; shown from its thumbnail, the boxes" : "; the boxes are";
  const note = src ? null : h("figcaption", {}, `${notKept("photo", sourceKind)}${shown} drawn at their places.`);
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

// An <image> whose picture is fetched with the key (an <img> or <image> cannot send it itself), or given
// as an object URL already fetched.
function keyedImage(path, attrs) {
  const image = h("image", attrs);
  if (path.startsWith("blob:")) image.setAttribute("href", path);
  else blobUrl(path).then((url) => url && image.setAttribute("href", url)).catch(() => null);
  return image;
}

// The same for an HTML <img>.
function keyedImg(path, attrs) {
  const img = h("img", attrs);
  blobUrl(path).then((url) => url && img.setAttribute("src", url)).catch(() => null);
  return img;
}

// A face's Grad-CAM heatmap laid over the part of the picture the model saw, with an opacity slider.
// ``background`` is what lies under it: the photo, or a video's frame crop (which covers ``region`` exactly).
function heatmapFigure(face, caption, background) {
  const [x, y, w, hh] = face.heatmap.region;
  const heat = keyedImage(face.heatmap.url, { x, y, width: w, height: hh, opacity: 0.6, preserveAspectRatio: "none", class: "heat" });
  const slider = h("input", { type: "range", min: 0, max: 100, value: 60, class: "opacity",
    oninput: (e) => heat.setAttribute("opacity", e.target.value / 100) });
  return h("figure", { class: "heatmap" },
    h("svg", { viewBox: `${x} ${y} ${w} ${hh}`, role: "img", "aria-label": `${caption} with its heatmap` }, background, heat),
    h("figcaption", {}, caption),
    h("label", {}, "Heatmap opacity ", slider));
}

const HEATMAP_NOTE = "Warm colours mark the regions that raised this model's score for this face (for a model with "
  + "several detectors, the one whose score decided). They do not prove those regions were edited, nor say by how much: "
  + "each map is scaled to its own maximum, and for a face scored likely authentic it shows what little evidence there was.";

function heatmapSection(figures) {
  if (!figures.length) return null;
  return h("section", { class: "heatmaps" }, h("h4", {}, "What drove each score (Grad-CAM)"),
    h("p", { class: "note" }, HEATMAP_NOTE), h("div", { class: "heatmap-row" }, figures));
}

export function heatmaps(result, src) {
  const photo = () => (src ? h("image", { href: src, width: result.media.width, height: result.media.height }) : null);
  return heatmapSection((result.faces || []).map((face, i) => face.heatmap
    && heatmapFigure(face, `Face ${i + 1} (${percent(face.score)})`, photo())).filter(Boolean));
}

function videoHeatmaps(result) {
  return heatmapSection((result.faces || []).filter((face) => face.heatmap).map((face) => {
    const top = (face.frames || [])[0];
    const [x, y, w, hh] = face.heatmap.region;
    const under = top && top.url ? keyedImage(top.url, { x, y, width: w, height: hh, preserveAspectRatio: "none" }) : null;
    return heatmapFigure(face, `Person ${face.track} at ${face.heatmap.t.toFixed(1)} s (${percent(top ? top.score : face.score)})`, under);
  }));
}

function decisiveFrame(face, frame, seek) {
  const what = `Person ${face.track} at ${frame.t.toFixed(1)} s, scored ${percent(frame.score)}`;
  const picture = frame.url ? h("img", { alt: what, width: 160, height: 160 }) : null;
  if (picture) blobUrl(frame.url).then((url) => url && picture.setAttribute("src", url)).catch(() => null);
  return h("figure", { class: "decisive", "data-t": frame.t }, picture,
    h("figcaption", {}, `${frame.t.toFixed(1)} s · ${percent(frame.score)}`),
    h("button", { type: "button", class: "seek", "aria-label": `Play from ${what}`, onclick: () => seek(frame.t) },
      `Show at ${frame.t.toFixed(1)} s`));
}

// Each deciding person's highest-scoring sampled frames: what their score rests on, with a way to see each in the video.
function decisiveFrames(result, seek) {
  const people = (result.faces || []).filter((face) => (face.frames || []).length);
  if (!people.length) return null;
  return h("section", { class: "decisive-frames" }, h("h4", {}, "The frames that decided it"),
    h("p", { class: "note" }, "Each person's highest-scoring sampled frames, as the model saw them (the face, cropped)."),
    people.map((face) => h("div", { class: "decisive-person" }, h("h5", {}, `Person ${face.track}: ${percent(face.score)} overall`),
      h("div", { class: "decisive-row" }, face.frames.map((frame) => decisiveFrame(face, frame, seek))))));
}

// LIME on request for one face at a time: a button per face that can still be cut from what the job keeps.
function limeSection(result, jobId, background) {
  const faces = (result.faces || []).map((face, n) => [face, n])
    .filter(([face]) => result.kind !== "video" || (face.frames || []).some((f) => f.url));
  if (!jobId || !faces.length) return null;
  const shown = h("div", { class: "heatmap-row lime-row" });
  const name = (face, n) => (face.track != null ? `Person ${face.track}` : `Face ${n + 1}`);
  const ask = async (button, face, n) => {
    button.disabled = true;
    button.textContent = `${name(face, n)}: computing…`;
    try {
      const asked = await askLime(jobId, n);
      const url = await whenStored(asked.url);
      if (!url) throw new Error("not ready after 3 minutes; try again later");
      button.textContent = `${name(face, n)}: done`;
      shown.append(heatmapFigure({ heatmap: { url, region: asked.region } }, `${name(face, n)}, LIME`, background(face, asked.region)));
    } catch (err) {
      button.disabled = false;
      button.textContent = `${name(face, n)}: failed (${err.message}), try again`;
    }
  };
  return h("section", { class: "lime" }, h("h4", {}, "Explain one face with LIME (slower)"),
    h("p", { class: "note" }, "LIME hides patches of the face at random and watches the score: it needs hundreds of "
      + "model runs, so expect ten seconds to a minute per face. Its patches follow colour edges, not facial features."),
    h("p", {}, faces.map(([face, n]) => h("button", { type: "button", class: "ask-lime", "data-face": n,
      onclick: (e) => ask(e.currentTarget, face, n) }, `LIME for ${name(face, n)}`))), shown);
}

export function modelsList(result) {
  const models = result.models || [];
  if (!models.length) return null;
  return h("details", { class: "models" }, h("summary", {}, `Models (${models.length})`),
    h("ul", {}, models.map((m) => h("li", {}, h("strong", {}, m.name), ` ${m.version}: ${m.detects || ""}`))));
}

function tracksTable(result) {
  const names = modelNames(result);
  return h("table", { class: "tracks" },
    h("caption", {}, "Each person on screen; only people seen long enough decide the verdict"),
    h("thead", {}, h("tr", {}, ["Person", "Verdict", "Score", ...names, "On screen", "Decides"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, (result.tracks || []).map((t) => h("tr", { class: "track-row" },
      h("th", { scope: "row" }, `Person ${t.id}`), bandCell(t.band), h("td", { class: "num" }, percent(t.score)),
      names.map((n) => h("td", { class: "num model-score" }, percent((t.model_scores || {})[n]))),
      h("td", {}, `${t.start_s.toFixed(1)}–${t.end_s.toFixed(1)} s (${t.frames} frames)`),
      h("td", {}, t.counted ? "yes" : "no (seen briefly)")))));
}

export function videoView(result, src, jobId, sourceKind = "upload") {
  const player = src ? h("video", { src, controls: true, preload: "metadata", class: "player" })
    : h("figure", {}, result.thumbnail ? keyedImg(result.thumbnail, { alt: "", class: "thumbnail" }) : null,
      h("figcaption", { class: "note" }, `${notKept("video", sourceKind)}; the chart still shows its scores.`));
  const seek = (t) => { if (src) { player.currentTime = t; player.focus(); } };
  return h("div", { class: "video-view" }, player, timelineChart(result, seek), tracksTable(result),
    decisiveFrames(result, seek), videoHeatmaps(result),
    limeSection(result, jobId, (face, [x, y, w, hh]) => keyedImage(face.frames[0].url,
      { x, y, width: w, height: hh, preserveAspectRatio: "none" })));
}

export function resultView(result, src, jobId, sourceKind = "upload") {
  const photo = () => (src ? h("image", { href: src, width: result.media.width, height: result.media.height }) : null);
  const body = result.kind === "video"
    ? [videoView(result, src, jobId, sourceKind)]
    : [photoFigure(result, src, sourceKind), result.faces && result.faces.length ? facesTable(result) : null, heatmaps(result, src),
      src ? limeSection(result, jobId, photo) : null];
  return h("div", { class: "result" }, verdictBanner(result), body, modelsList(result));
}
