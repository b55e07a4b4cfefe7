// A video's scores over time, one line per person, as a small inline SVG: a point is a sampled frame,
// and choosing it (click, or Enter on the focused point) seeks the player there.
import { h } from "./dom.js";
import { BANDS, percent } from "./words.js";

const W = 640, H = 200, PAD = 32;
// Person colours: Okabe-Ito hues other than the band colours, then black.
const PEOPLE = ["#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442"];

function pointsByTrack(timeline) {
  const tracks = new Map();
  for (const frame of timeline) {
    for (const face of frame.faces || []) {
      if (face.track == null || face.score == null) continue;
      if (!tracks.has(face.track)) tracks.set(face.track, []);
      tracks.get(face.track).push({ t: frame.t, score: face.score });
    }
  }
  return tracks;
}

function bandLines(edges, y) {
  return (edges || []).map((edge) => h("line", { x1: PAD, x2: W - 8, y1: y(edge), y2: y(edge), class: "band-edge" }));
}

function axes(y, duration) {
  return [
    h("line", { x1: PAD, x2: PAD, y1: y(0), y2: y(1), class: "axis" }),
    h("line", { x1: PAD, x2: W - 8, y1: y(0), y2: y(0), class: "axis" }),
    h("text", { x: 4, y: y(1) + 4, class: "tick" }, "100%"),
    h("text", { x: 4, y: y(0) + 4, class: "tick" }, "0%"),
    h("text", { x: W - 8, y: H - 4, class: "tick", "text-anchor": "end" }, `${duration.toFixed(1)} s`),
  ];
}

export function timelineChart(result, seek) {
  const duration = Math.max(result.media?.duration_s || 0, ...(result.timeline || []).map((f) => f.t), 0.001);
  const x = (t) => PAD + (t / duration) * (W - PAD - 8);
  const y = (s) => H - PAD + 8 - s * (H - PAD - 8);
  const lines = [...pointsByTrack(result.timeline || [])].map(([track, points], i) => {
    const colour = PEOPLE[i % PEOPLE.length];
    return h("g", { class: "track-line", "data-track": track },
      h("polyline", { points: points.map((p) => `${x(p.t)},${y(p.score)}`).join(" "), stroke: colour, fill: "none" }),
      points.map((p) => h("circle", { cx: x(p.t), cy: y(p.score), r: 5, fill: colour, tabindex: 0, role: "button",
        "aria-label": `Person ${track} at ${p.t.toFixed(1)} s: ${percent(p.score)}`,
        onclick: () => seek(p.t), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") seek(p.t); } },
        h("title", {}, `Person ${track}, ${p.t.toFixed(1)} s: ${percent(p.score)}`))));
  });
  const legend = h("p", { class: "legend" }, "Dashed lines: the band edges (below: ", BANDS.likely_real.words,
    "; above the upper one: ", BANDS.likely_fake.words, "). Choose a point to jump the video there.");
  return h("figure", { class: "timeline" },
    h("svg", { viewBox: `0 0 ${W} ${H}`, role: "group", "aria-label": "Score of each person over time" },
      axes(y, duration), bandLines(result.model?.bands, y), lines),
    legend);
}
