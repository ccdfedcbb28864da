// The playground's entry point: tabs, the model pickers, and one object per panel.

import { listModels } from "./api.js";
import { Chat } from "./chat.js";
import { Embeddings } from "./embeddings.js";
import { Images } from "./images.js";
import { Speech } from "./speech.js";

const $ = (id) => document.getElementById(id);

function tabs() {
  const all = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const other of all) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute("aria-controls")).hidden = !selected;
    }
    tab.focus();
  };
  all.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) select(all[(index + step + all.length) % all.length]);
      if (event.key === "Home") select(all[0]);
      if (event.key === "End") select(all[all.length - 1]);
    });
  });
}

/** Fill every model picker (``data-kinds``) with the models of its kinds, defaults first. */
function pickers(models) {
  for (const select of document.querySelectorAll("select[data-kinds]")) {
    const kinds = select.dataset.kinds.split(" ");
    const fitting = models.filter((m) => kinds.includes(m.type));
    fitting.sort((a, b) => Number(Boolean(b.default)) - Number(Boolean(a.default)));
    select.replaceChildren(
      ...fitting.map((model) => {
        const option = document.createElement("option");
        option.value = model.id;
        option.textContent = model.default ? `${model.id} (default)` : model.id;
        return option;
      }),
    );
    const form = select.closest("form, section");
    const none = fitting.length === 0;
    select.disabled = none;
    if (none) select.append(new Option(`no ${kinds.join(" or ")} model served`, ""));
    for (const button of form.querySelectorAll('button[type="submit"]')) button.disabled = none;
  }
}

async function start() {
  tabs();
  let models = [];
  try {
    models = await listModels();
    const loaded = models.filter((m) => m.state === "loaded").length;
    $("status").textContent = `${models.length} models served, ${loaded} loaded`;
  } catch (error) {
    $("status").textContent = `Cannot list models: ${error.message}`;
  }
  pickers(models);
  const chat = new Chat(new Map(models.map((m) => [m.id, m])));
  new Images();
  new Speech();
  new Embeddings();
  document.body.dataset.ready = "true";
  if (!$("chat-send").disabled) $("chat-input").focus();
  return chat;
}

start();
