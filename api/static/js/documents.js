// The caller's documents: upload one and follow its status until the worker has indexed it.

import { request } from "./api.js";
import { $, el, guarded, showError } from "./ui.js";

const FINAL = new Set(["ready", "failed"]);
const POLL_MS = 1000;

export async function loadDocuments() {
  const { items } = await request("GET", "documents?limit=100");
  const mine = items.filter((document) => document.scope === "private");
  $("document-list").replaceChildren(...mine.map(documentItem));
  for (const document of mine) if (!FINAL.has(document.status)) follow(document.id).catch(showError);
}

function documentItem(document) {
  const item = el("li", "document");
  item.dataset.documentId = document.id;
  item.append(el("span", "document-title", document.title), statusBadge(document));
  return item;
}

function statusBadge(document) {
  const badge = el("span", `badge status status-${document.status}`, document.status);
  if (document.status === "failed" && document.error) badge.title = document.error;
  return badge;
}

// Polls the document until it is ready or failed, updating its badge.
async function follow(id) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const item = document.querySelector(`[data-document-id="${id}"]`);
    if (!item) return; // logged out, or the list was reloaded
    const current = await request("GET", `documents/${id}`);
    item.querySelector(".status").replaceWith(statusBadge(current));
    if (FINAL.has(current.status)) return;
  }
}

export function setUpDocuments() {
  $("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    guarded(async () => {
      const body = new FormData(form);
      if (!body.get("title")) body.delete("title");
      const { document } = await request("POST", "documents", body);
      form.reset();
      $("document-list").prepend(documentItem(document));
      follow(document.id).catch(showError);
    }, form.querySelector("button"));
  });
}

export function resetDocuments() {
  $("document-list").replaceChildren();
}
