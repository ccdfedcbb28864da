// The speech panel: an uploaded or recorded clip in, the transcript and its segments out.

import { call } from "./api.js";
import { busy, clock } from "./progress.js";

const $ = (id) => document.getElementById(id);

export class Speech {
  constructor() {
    this.recorder = null;
    $("speech-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const file = $("speech-file").files[0];
      if (file) this.transcribe(file, file.name);
      else $("speech-error").textContent = "Choose an audio file first, or record one.";
    });
    // The microphone only where the browser offers it (a secure context such as 127.0.0.1).
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder) {
      $("speech-record").hidden = false;
      $("speech-record").addEventListener("click", () => this.record());
    }
  }

  async record() {
    if (this.recorder) {
      this.recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      $("speech-error").textContent = `The microphone is not available: ${error.message}`;
      return;
    }
    const chunks = [];
    this.recorder = new MediaRecorder(stream);
    this.recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    this.recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((track) => track.stop());
      const type = this.recorder.mimeType || "audio/webm";
      this.recorder = null;
      $("speech-record").textContent = "Record";
      $("speech-record").setAttribute("aria-pressed", "false");
      this.transcribe(new Blob(chunks, { type }), `recording.${type.includes("ogg") ? "ogg" : "webm"}`);
    });
    this.recorder.start();
    $("speech-record").textContent = "Stop recording";
    $("speech-record").setAttribute("aria-pressed", "true");
  }

  async transcribe(blob, name) {
    const form = new FormData();
    form.append("file", blob, name);
    const model = $("speech-model").value;
    if (model) form.append("model", model);
    const language = $("speech-language").value.trim();
    if (language) form.append("language", language);
    form.append("response_format", "verbose_json");
    form.append("timestamp_granularities[]", "segment");
    const path = $("speech-translate").checked ? "/v1/audio/translations" : "/v1/audio/transcriptions";
    const answer = await busy("speech", "speech-transcribe", async () => {
      const response = await call(path, { method: "POST", body: form });
      return response.json();
    });
    if (answer) this.show(answer);
  }

  show(answer) {
    const language = answer.language ? ` (${answer.language})` : "";
    $("speech-text").textContent = answer.text.trim() + language;
    const rows = (answer.segments || []).map((segment) => {
      const row = document.createElement("tr");
      for (const value of [clock(segment.start), clock(segment.end), segment.text.trim()]) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.append(cell);
      }
      return row;
    });
    $("speech-segments").tBodies[0].replaceChildren(...rows);
    $("speech-result").hidden = false;
  }
}
