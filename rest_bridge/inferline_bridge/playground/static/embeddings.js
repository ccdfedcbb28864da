// The embeddings panel: a few sentences in, their cosine similarities as a heat map.

import { postJSON } from "./api.js";

const $ = (id) => document.getElementById(id);

function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / (Math.sqrt(na * nb) || 1);
}

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

export class Embeddings {
  constructor() {
    $("embeddings-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.compare();
    });
  }

  async compare() {
    const sentences = $("embeddings-input").value.split("\n").map((s) => s.trim()).filter(Boolean);
    $("embeddings-error").textContent = "";
    if (sentences.length < 2) {
      $("embeddings-error").textContent = "Give at least two sentences, one per line.";
      return;
    }
    $("embeddings-compare").disabled = true;
    try {
      const answer = await postJSON("/v1/embeddings", {
        model: $("embeddings-model").value || undefined,
        input: sentences,
      });
      const vectors = answer.data.sort((a, b) => a.index - b.index).map((d) => d.embedding);
      this.show(sentences, vectors);
    } catch (error) {
      $("embeddings-error").textContent = error.message;
    } finally {
      $("embeddings-compare").disabled = false;
    }
  }

  show(sentences, vectors) {
    const table = $("embeddings-matrix");
    const caption = table.caption;
    const head = document.createElement("tr");
    head.append(cell("td", ""), ...sentences.map((_, i) => {
      const th = cell("th", String(i + 1));
      th.scope = "col";
      return th;
    }));
    const rows = vectors.map((row, i) => {
      const tr = document.createElement("tr");
      const th = cell("th", String(i + 1));
      th.scope = "row";
      tr.append(th);
      for (let j = 0; j < vectors.length; j += 1) {
        const similarity = cosine(row, vectors[j]);
        const td = cell("td", similarity.toFixed(2));
        td.style.setProperty("--s", String(Math.max(0, similarity)));
        td.classList.toggle("strong", similarity > 0.6);
        td.title = `${sentences[i]} / ${sentences[j]}`;
        tr.append(td);
      }
      return tr;
    });
    table.replaceChildren(caption, head, ...rows);
    $("embeddings-legend").replaceChildren(...sentences.map((s) => cell("li", s)));
    $("embeddings-result").hidden = false;
  }
}
