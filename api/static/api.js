// Talking to the service: every call carries the key the moderator entered, kept for this tab only.
const KEY_NAME = "deepfake-api-key";

export const key = {
  get: () => sessionStorage.getItem(KEY_NAME),
  set: (value) => sessionStorage.setItem(KEY_NAME, value.trim()),
  clear: () => sessionStorage.removeItem(KEY_NAME),
};

// An answer that is not 2xx, with the service's stable error code and message.
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export async function call(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${key.get() || ""}` };
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (err) {
    throw new ApiError(0, "network", "the service could not be reached; check your connection and try again");
  }
  if (response.ok) return response;
  const body = await response.json().catch(() => ({}));
  const error = body.error || {};
  const retryAfter = Number(response.headers.get("Retry-After")) || null;
  throw new ApiError(response.status, error.code || "http_error", error.message || response.statusText, retryAfter);
}

export async function uploadFile(file, { explain = false } = {}) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("explain", String(explain));
  return (await call("/v1/jobs", { method: "POST", body: form })).json();
}

export async function submitUrl(url, { explain = false } = {}) {
  const body = JSON.stringify({ url, explain });
  return (await call("/v1/jobs", { method: "POST", body, headers: { "content-type": "application/json" } })).json();
}

export async function getJob(id) {
  return (await call(`/v1/jobs/${encodeURIComponent(id)}`)).json();
}

// Asks for one face's LIME map: { url, region, method, note }; the PNG appears at url when it is done.
export async function askLime(jobId, face) {
  return (await call(`/v1/jobs/${encodeURIComponent(jobId)}/faces/${face}/lime`, { method: "POST" })).json();
}

// Polls a picture the worker has yet to store (404 until then), from 1 s growing to 5 s, for ``limitMs``.
export async function whenStored(path, limitMs = 180000) {
  const until = Date.now() + limitMs;
  for (let wait = 1000; Date.now() < until; wait = Math.min(5000, wait * 1.5)) {
    const url = await blobUrl(path);
    if (url) return url;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return null;
}

export async function getBatch(id) {
  return (await call(`/v1/batches/${encodeURIComponent(id)}`)).json();
}

export async function listBatches(params) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  return (await call(`/v1/batches?${query}`)).json();
}

export async function listJobs(params) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  return (await call(`/v1/jobs?${query}`)).json();
}

// A picture the service keeps (media, heatmap) as an object URL: an <img> cannot send the key itself.
// null when it is not stored (404).
export async function blobUrl(path) {
  try {
    return URL.createObjectURL(await (await call(path)).blob());
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

export const mediaUrl = (id) => blobUrl(`/v1/jobs/${encodeURIComponent(id)}/media`);

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

// A refusal that asking again will not change (no such job, wrong key, a bad request); a 429, a 5xx or a
// lost connection is waited out instead.
export const final = (err) => err.status >= 400 && err.status < 500 && err.status !== 429;

// Polls a job until it ends or is refused for good, calling onUpdate with each state. The wait grows from
// 0.5 s to 5 s, so a long video does not cost a request every half second; a 429 or 503 waits as long as
// Retry-After says.
export async function follow(id, onUpdate, { first = 500, max = 5000, factor = 1.5 } = {}) {
  let wait = first;
  for (;;) {
    try {
      const job = await getJob(id);
      onUpdate(job, null);
      if (TERMINAL.has(job.status)) return job;
    } catch (err) {
      onUpdate(null, err);
      if (final(err)) return null;
      if (err.retryAfter) wait = Math.max(wait, err.retryAfter * 1000);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(max, wait * factor);
  }
}
