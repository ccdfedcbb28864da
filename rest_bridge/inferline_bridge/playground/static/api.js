// Calls to the OpenAI-compatible API on this origin: the key, errors, and streamed events.
//
// The page loads without a key. When a call is refused with 401 the page asks for a key once
// (a dialog), keeps it in this tab's sessionStorage and sends it with every call after that.

const KEY_ITEM = "inferline.apiKey";

/** An API error: the server's OpenAI-shaped message and the HTTP status. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

let asking = null; // the one key question in flight, shared by concurrent calls

function askForKey(reason) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  document.getElementById("key-error").textContent = reason;
  input.value = "";
  asking = new Promise((resolve) => {
    const submit = (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      form.removeEventListener("submit", submit);
      sessionStorage.setItem(KEY_ITEM, key);
      dialog.close();
      asking = null;
      resolve();
    };
    form.addEventListener("submit", submit);
  });
  if (!dialog.open) dialog.showModal();
  input.focus();
  return asking;
}

// Escape closes the dialog without a key: ask again on the next refused call.
document.getElementById("key-dialog").addEventListener("cancel", (event) => event.preventDefault());

async function errorMessage(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && body.error && body.error.message) return body.error.message;
  } catch {
    // not JSON: fall back to the text itself
  }
  return text.trim() || `${response.status} ${response.statusText}`;
}

/** fetch() with the key; a 401 asks for a key and tries again; other errors throw ApiError. */
export async function call(path, init = {}) {
  for (;;) {
    const headers = new Headers(init.headers);
    const key = sessionStorage.getItem(KEY_ITEM);
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const response = await fetch(path, { ...init, headers });
    if (response.ok) return response;
    const message = await errorMessage(response);
    if (response.status !== 401) throw new ApiError(message, response.status);
    sessionStorage.removeItem(KEY_ITEM);
    await askForKey(key ? message : "");
  }
}

/** POST a JSON body and return the decoded JSON answer. */
export async function postJSON(path, body, init = {}) {
  const response = await call(path, {
    ...init,
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.json();
}

/** The data of each Server-Sent Event of a streaming response, until [DONE]. */
export async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") return;
        const event = JSON.parse(data);
        if (event.error) throw new ApiError(event.error.message, 0);
        yield event;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** Every model the server lists (OpenAI's entries plus type, state and default). */
export async function listModels() {
  const response = await call("/v1/models");
  return (await response.json()).data;
}
