// The chat panel: a conversation kept in the page, answers streamed token by token, Stop.
//
// Stop aborts the fetch; the bridge sees the connection close and cancels the generation on
// the core, so the model is free for the next request at once.

import { call, events } from "./api.js";
import { render } from "./markdown.js";

const $ = (id) => document.getElementById(id);

function entry(role, label) {
  const item = document.createElement("li");
  item.className = role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = label;
  const body = document.createElement("div");
  body.className = "body";
  item.append(who, body);
  const log = $("chat-log");
  log.append(item);
  log.scrollTop = log.scrollHeight; // a new message always comes into view
  return body;
}

/** Apply a change to the conversation; the view follows it if the reader was at its end, and
 * stays where the reader scrolled otherwise. The page itself never moves: the conversation
 * scrolls inside, so the composer and Stop stay where they are while an answer streams. */
function grow(change) {
  const log = $("chat-log");
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 8;
  change();
  if (atEnd) log.scrollTop = log.scrollHeight;
}

function number(id) {
  const value = $(id).value.trim();
  return value === "" ? undefined : Number(value);
}

function fileAsDataURL(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function statsLine(started, firstAt, endedAt, usage, finish) {
  const parts = [];
  if (firstAt) parts.push(`TTFT ${Math.round(firstAt - started)} ms`);
  const tokens = usage ? usage.completion_tokens : undefined;
  const seconds = firstAt ? (endedAt - firstAt) / 1000 : 0;
  if (tokens !== undefined) parts.push(`${tokens} tokens`);
  if (tokens > 1 && seconds > 0) parts.push(`${((tokens - 1) / seconds).toFixed(1)} tokens/s`);
  if (finish) parts.push(`finish: ${finish}`);
  return parts.join(" · ");
}

export class Chat {
  constructor(models) {
    this.models = models; // id -> model entry from /v1/models
    this.messages = []; // the conversation so far, as OpenAI messages (system prompt apart)
    this.running = null; // the AbortController of the answer in progress
    this.image = null; // the attached image as a data URL
    $("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    $("chat-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("chat-form").requestSubmit();
      }
    });
    $("chat-stop").addEventListener("click", () => this.stop());
    $("chat-clear").addEventListener("click", () => this.clear());
    $("chat-model").addEventListener("change", () => this.modelChanged());
    $("chat-image").addEventListener("change", () => this.attach());
    this.modelChanged();
  }

  modelChanged() {
    const model = this.models.get($("chat-model").value);
    const vision = Boolean(model && (model.type === "vision" || (model.capabilities || []).includes("vision")));
    $("chat-attach-label").hidden = !vision;
    if (!vision) this.detach();
  }

  async attach() {
    const file = $("chat-image").files[0];
    this.image = file ? await fileAsDataURL(file) : null;
    $("chat-attached").textContent = file ? file.name : "";
  }

  detach() {
    this.image = null;
    $("chat-image").value = "";
    $("chat-attached").textContent = "";
  }

  clear() {
    this.stop();
    this.messages = [];
    $("chat-log").replaceChildren();
    $("chat-stats").textContent = "";
    $("chat-error").textContent = "";
  }

  stop() {
    if (this.running) this.running.abort();
  }

  busy(running) {
    this.running = running;
    // Screen readers announce the answer once it is complete, not at every token.
    $("chat-log").setAttribute("aria-busy", String(Boolean(running)));
    $("chat-send").disabled = Boolean(running);
    $("chat-stop").disabled = !running;
  }

  userMessage(text) {
    const body = entry("user", "You");
    body.textContent = text; // the user's own text, shown as typed
    if (!this.image) return { role: "user", content: text };
    const picture = document.createElement("img");
    picture.src = URL.createObjectURL(dataURLBlob(this.image));
    picture.alt = "attached image";
    body.append(picture);
    const content = [
      { type: "text", text },
      { type: "image_url", image_url: { url: this.image } },
    ];
    this.detach();
    return { role: "user", content };
  }

  request() {
    const system = $("chat-system").value.trim();
    const messages = system ? [{ role: "system", content: system }, ...this.messages] : this.messages;
    return {
      model: $("chat-model").value || undefined,
      messages,
      stream: true,
      stream_options: { include_usage: true },
      temperature: number("chat-temperature"),
      max_tokens: number("chat-max-tokens"),
    };
  }

  async send() {
    const text = $("chat-input").value;
    if (this.running || !text.trim()) return;
    $("chat-input").value = "";
    $("chat-error").textContent = "";
    $("chat-stats").textContent = "";
    const conversation = this.messages; // Clear starts a new one; this turn stays in its own
    conversation.push(this.userMessage(text));
    const body = entry("assistant", $("chat-model").value || "assistant");
    const controller = new AbortController();
    this.busy(controller);
    let answer = "";
    let frame = 0; // a repaint already asked for, if not 0
    const paint = () => {
      frame = 0;
      grow(() => render(body, answer));
    };
    const started = performance.now();
    let firstAt = 0;
    let usage = null;
    let finish = null;
    try {
      const response = await call("/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(this.request()),
        signal: controller.signal,
      });
      for await (const chunk of events(response)) {
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices && chunk.choices[0];
        if (!choice) continue;
        if (choice.finish_reason) finish = choice.finish_reason;
        const delta = choice.delta && choice.delta.content;
        if (!delta) continue;
        if (!firstAt) firstAt = performance.now();
        answer += delta;
        if (!frame) frame = requestAnimationFrame(paint);
      }
    } catch (error) {
      if (error.name === "AbortError") finish = "stopped";
      else $("chat-error").textContent = error.message;
    } finally {
      this.busy(null);
    }
    cancelAnimationFrame(frame);
    paint();
    if (finish === "stopped") {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = "Stopped.";
      grow(() => body.append(note));
    }
    if (answer) conversation.push({ role: "assistant", content: answer });
    else if (finish !== "stopped") conversation.pop(); // a failed turn leaves no trace
    $("chat-stats").textContent = statsLine(started, firstAt, performance.now(), usage, finish);
    $("chat-input").focus();
  }
}

function dataURLBlob(url) {
  const [head, data] = url.split(",", 2);
  const type = head.slice(5).split(";")[0];
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type });
}
