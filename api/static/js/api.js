// The API client: JSON requests with the access token, one refresh on expiry, SSE over fetch.
// Tokens live in memory only: a reload asks for the password again, and no script can read them
// from storage.

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The server answered ${status}.`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details || {};
  }
}

const tokens = { access: null, refresh: null };
let onLoggedOut = () => {};

export function setTokens(pair) {
  tokens.access = pair.access_token;
  tokens.refresh = pair.refresh_token;
}

export function clearTokens() {
  tokens.access = null;
  tokens.refresh = null;
}

// Revokes the access and the refresh token, then forgets them whatever the server said.
export async function logout() {
  try {
    await request("POST", "auth/logout", { refresh_token: tokens.refresh });
  } finally {
    clearTokens();
  }
}

export function whenLoggedOut(callback) {
  onLoggedOut = callback;
}

// fetch() with the bearer token; an expired access token is refreshed once and the call repeated.
async function authorizedFetch(path, options = {}) {
  const send = () => {
    const headers = new Headers(options.headers || {});
    if (tokens.access) headers.set("Authorization", `Bearer ${tokens.access}`);
    return fetch(path.startsWith("/") ? path : `${BASE}/${path}`, { ...options, headers });
  };
  let response = await send();
  if (response.status === 401 && tokens.refresh && (await errorCode(response)) === "token_expired") {
    if (await refresh()) response = await send();
  }
  if (response.status === 401 && tokens.access) {
    clearTokens();
    onLoggedOut();
  }
  return response;
}

async function errorCode(response) {
  try {
    return (await response.clone().json()).error.code;
  } catch {
    return null;
  }
}

let refreshing = null;

// One refresh at a time: the refresh token rotates, so a second concurrent use would be refused.
function refresh() {
  if (!refreshing) {
    refreshing = fetch(`${BASE}/auth/refresh`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tokens.refresh}` },
    })
      .then(async (response) => {
        if (!response.ok) return false;
        setTokens(await response.json());
        return true;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

async function parse(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export async function request(method, path, body) {
  const options = { method };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers = { "Content-Type": "application/json" };
  }
  return parse(await authorizedFetch(path, options));
}

export async function download(path) {
  const response = await authorizedFetch(path);
  if (!response.ok) await parse(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || "download";
  return { blob: await response.blob(), name };
}

// Server-sent events read with fetch, so the token goes in a header and not in the URL.
// `lastEventId`: the id of the last event received before a reconnect; the server resumes after it.
export async function stream(path, onEvent, lastEventId = 0) {
  const headers = { Accept: "text/event-stream" };
  if (lastEventId) headers["Last-Event-ID"] = String(lastEventId);
  const response = await authorizedFetch(path, { headers });
  if (!response.ok) await parse(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) onEvent(event.name, event.data, event.id);
    }
  }
}

function parseEvent(block) {
  let name = "message";
  let id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    else if (line.startsWith("id:")) id = Number(line.slice(3).trim());
  }
  return data.length ? { name, id, data: JSON.parse(data.join("\n")) } : null; // comments are heartbeats
}
