// The images panel: prompt, size, steps and seed in; the picture shown and downloadable.

import { postJSON } from "./api.js";
import { busy } from "./progress.js";

const $ = (id) => document.getElementById(id);

function pngBlob(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: "image/png" });
}

export class Images {
  constructor() {
    this.url = null;
    $("images-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.generate();
    });
  }

  request() {
    const seed = $("images-seed").value.trim();
    return {
      model: $("images-model").value || undefined,
      prompt: $("images-prompt").value,
      size: $("images-size").value,
      steps: Number($("images-steps").value),
      seed: seed === "" ? Math.floor(Math.random() * 2 ** 31) : Number(seed),
      n: 1,
      response_format: "b64_json",
    };
  }

  async generate() {
    const request = this.request();
    const started = performance.now();
    const answer = await busy("images", "images-generate", () => postJSON("/v1/images/generations", request));
    if (!answer) return;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = URL.createObjectURL(pngBlob(answer.data[0].b64_json));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    $("images-picture").src = this.url;
    $("images-picture").alt = request.prompt;
    $("images-caption").textContent = `${request.size}, ${request.steps} steps, seed ${request.seed}, ${seconds} s.`;
    $("images-download").href = this.url;
    $("images-download").download = `inferline-${request.seed}.png`;
    $("images-result").hidden = false;
  }
}
