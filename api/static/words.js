// What the service's codes mean to a moderator. One place, so every view says the same thing.

// Verdicts: "real" is said only when faces were found and every one looked real; no face is never "real".
export const VERDICTS = {
  fake: { words: "Likely manipulated", advice: "At least one face scored in the likely-manipulated band. Treat as manipulated; escalate per your policy." },
  uncertain: { words: "Uncertain, review", advice: "The model is not confident either way. Send this to a person for review." },
  real: { words: "No sign of manipulation", advice: "Every face scored in the likely-authentic band. The model can miss new kinds of fakes." },
  no_face: { words: "No face found", advice: "Nothing was scored: this says nothing about whether the media is authentic." },
};

// Band colours from the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies);
// every band is also written out, and uncertain boxes are dashed, so colour is never the only cue.
export const BANDS = {
  likely_fake: { words: "likely manipulated", colour: "#D55E00", dash: "" },
  uncertain: { words: "uncertain", colour: "#E69F00", dash: "6 4" },
  likely_real: { words: "likely authentic", colour: "#0072B2", dash: "" },
};

export const STATUSES = {
  queued: "Waiting in the queue",
  running: "Analysing",
  succeeded: "Done",
  failed: "Could not be analysed",
  canceled: "Cancelled",
};

// What to do about each failure code (README "Failure codes"); the service's own message is shown too.
const ADVICE = {
  unauthorized: "Enter a valid API key (ask your administrator for one).",
  forbidden: "This key may not submit jobs; ask for a key with the jobs scope.",
  rate_limited: "Too many requests with this key; wait a moment and try again.",
  queue_full: "The service is busy; try again in a minute.",
  broker_unavailable: "The service's queue is down; submit the file again shortly.",
  database_unavailable: "The service's database is unavailable; try again shortly.",
  network: "Check your connection to the service and try again.",
  empty_file: "The file is empty; export it again from its source.",
  unsupported_media: "Send a photo or video in one of the formats listed under the drop zone.",
  corrupt_media: "The file is damaged; get a fresh copy from its source.",
  truncated_media: "The file is cut short; download it again completely.",
  too_large: "The file is over the size limit; send a smaller or trimmed copy.",
  image_too_large: "The image has too many pixels; send a downscaled copy.",
  video_too_large: "The video frame is too large; send a lower-resolution copy.",
  video_too_long: "The video is too long; send the part that matters.",
  no_video_stream: "The file has no video track (audio only?).",
  fetch_failed: "The URL could not be downloaded; check it opens in a browser, or upload the file.",
  source_not_found: "Nothing was found at that address; check the URL.",
  forbidden_url: "That address is not allowed (private network); upload the file instead.",
  segment_failed: "Part of the video kept failing; try again, or send a shorter clip.",
  worker_lost: "The analysis was interrupted repeatedly; submit it again.",
  internal_error: "Something went wrong in the service; submit again, and report it if it repeats.",
  invalid_request: "Check what you entered and try again.",
  not_found: "No such job for this key (deleted, or another team's).",
  media_gone: "The media is no longer stored (deleted, or never kept); send the file again to see or explain it.",
  not_ready: "Still being computed; wait a little and look again.",
};

export function adviceFor(code) {
  return ADVICE[code] || "Try again; if it keeps failing, report the error code to your administrator.";
}

export const percent = (score) => (score == null ? "–" : `${Math.round(score * 100)} %`);
