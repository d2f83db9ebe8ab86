// Sessions (list, switch, rename, delete, export) and the conversation, answers streamed over SSE.

import { download, request, stream } from "./api.js";
import { $, el, guarded, showError } from "./ui.js";

let currentSession = null; // {id, title} of the open session; null for a new chat

export async function loadSessions() {
  const { items } = await request("GET", "sessions?limit=100");
  const list = $("session-list");
  list.replaceChildren(...items.map(sessionItem));
  if (!items.length) list.append(el("li", "muted small", "No chats yet: ask a question to start one."));
  return items;
}

function sessionItem(session) {
  const item = el("li", "session");
  item.dataset.sessionId = session.id;
  const open = el("button", "session-open", session.title || "Untitled chat");
  open.type = "button";
  if (currentSession && currentSession.id === session.id) open.setAttribute("aria-current", "true");
  open.addEventListener("click", () => guarded(() => openSession(session.id)));
  const rename = iconButton("Rename", `Rename “${session.title}”`, () => startRename(item, session));
  const remove = iconButton("Delete", `Delete “${session.title}”`, (event) =>
    guarded(() => deleteSession(session), event.currentTarget),
  );
  item.append(open, el("span", "muted small", `${session.message_count} messages`), rename, remove);
  return item;
}

function iconButton(text, label, onClick) {
  const button = el("button", "link", text);
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

function startRename(item, session) {
  const form = el("form", "rename");
  const input = el("input");
  input.value = session.title;
  input.required = true;
  input.maxLength = 200;
  input.setAttribute("aria-label", "New title");
  const save = el("button", "", "Save");
  save.type = "submit";
  const cancel = iconButton("Cancel", "Cancel renaming", () => loadSessions());
  form.append(input, save, cancel);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const renamed = await request("PATCH", `sessions/${session.id}`, { title: input.value });
      if (currentSession && currentSession.id === renamed.id) setCurrent(renamed);
      await loadSessions();
    }, save);
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") loadSessions();
  });
  item.replaceChildren(form);
  input.focus();
  input.select();
}

async function deleteSession(session) {
  if (!confirm(`Delete the chat “${session.title}” and its messages?`)) return;
  await request("DELETE", `sessions/${session.id}`);
  if (currentSession && currentSession.id === session.id) newChat();
  await loadSessions();
}

function setCurrent(session) {
  currentSession = session ? { id: session.id, title: session.title } : null;
  $("chat-title").textContent = session ? session.title : "New chat";
  $("chat-actions").hidden = !session;
  for (const button of document.querySelectorAll(".session-open")) {
    const active = session && button.parentElement.dataset.sessionId === String(session.id);
    if (active) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

export async function openSession(id) {
  const session = await request("GET", `sessions/${id}`);
  setCurrent(session);
  $("messages").replaceChildren(
    ...session.messages.map((message) =>
      message.role === "user"
        ? userBubble(message.content)
        : answerBubble(storedAnswer(message)),
    ),
  );
  $("question").focus();
}

// A stored answer keeps its sources but not its `grounded` flag: grounded answers always cite.
function storedAnswer(message) {
  return { answer: message.content, grounded: message.sources.length > 0, sources: message.sources, related: [] };
}

export function newChat() {
  setCurrent(null);
  $("messages").replaceChildren();
  $("question").focus();
}

function userBubble(text) {
  const item = el("li", "message user");
  item.append(el("p", "message-text", text));
  return item;
}

function answerBubble(result) {
  const item = el("li", "message assistant");
  const text = el("p", "message-text", result ? result.answer : "");
  item.append(text);
  if (result) showResult(item, result);
  return item;
}

// Under an answer: its cited sources, or, when the documents do not answer, the closest passages.
function showResult(item, result) {
  item.querySelector(".message-text").textContent = result.answer;
  item.classList.remove("streaming");
  if (!result.grounded) {
    item.append(el("p", "badge not-grounded", "Not in the documents"));
    if (result.related && result.related.length) item.append(passages("Related passages", result.related));
  } else if (result.sources && result.sources.length) {
    item.append(passages("Sources", result.sources));
  }
  if (result.timings) {
    item.append(el("p", "muted small", `${result.model} · ${Math.round(result.timings.total_ms)} ms`));
  }
}

function passages(heading, items) {
  const section = el("section", "passages");
  section.append(el("h3", "passages-title", heading));
  const list = el("ol", "passage-list");
  for (const passage of items) {
    const entry = el("li", "passage");
    const label = passage.n ? `[${passage.n}] ${passage.title}` : passage.title;
    entry.append(el("p", "passage-title", label), el("blockquote", "snippet", passage.snippet));
    list.append(entry);
  }
  section.append(list);
  return section;
}

async function ask(message) {
  const messages = $("messages");
  messages.append(userBubble(message));
  const bubble = answerBubble(null);
  bubble.classList.add("streaming");
  bubble.setAttribute("aria-busy", "true");
  messages.append(bubble);
  bubble.scrollIntoView({ block: "end" });
  try {
    const body = { message };
    if (currentSession) body.session_id = currentSession.id;
    const accepted = await request("POST", "chat", body);
    const task = await streamAnswer(accepted.stream_url, bubble);
    if (task.state !== "succeeded") throw new Error((task.error && task.error.message) || "The answer failed.");
    showResult(bubble, task.result);
    currentSession = { id: accepted.session_id, title: "" };
    const sessions = await loadSessions();
    setCurrent(sessions.find((session) => session.id === accepted.session_id) || currentSession);
  } catch (error) {
    bubble.classList.remove("streaming");
    bubble.classList.add("failed");
    bubble.querySelector(".message-text").textContent = error.message;
    showError(error);
  } finally {
    bubble.removeAttribute("aria-busy");
    bubble.scrollIntoView({ block: "end" });
  }
}

// Tokens are appended as they arrive; the task from `done` (or `error`) ends the stream.
// A stream that ends without it (its lifetime on the server is over) is opened again after
// the last token received.
const RECONNECTS = 5;

async function streamAnswer(url, bubble) {
  const text = bubble.querySelector(".message-text");
  let finished = null;
  let lastId = 0;
  for (let attempt = 0; !finished && attempt <= RECONNECTS; attempt += 1) {
    await stream(
      url,
      (event, data, id) => {
        if (event === "token") {
          text.textContent += data.text;
          lastId = id ?? lastId;
        } else if (event === "done" || event === "error") finished = data;
      },
      lastId,
    );
  }
  if (!finished) throw new Error("The answer stream ended early; reload the chat to see the answer.");
  return finished;
}

async function exportSession(format) {
  const { blob, name } = await download(`sessions/${currentSession.id}/export?format=${format}`);
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

export function setUpChat() {
  const form = $("ask-form");
  const question = $("question");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = question.value.trim();
    if (!message) return;
    question.value = "";
    guarded(() => ask(message), $("ask-button"));
  });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("new-session").addEventListener("click", newChat);
  $("export-markdown").addEventListener("click", (event) =>
    guarded(() => exportSession("markdown"), event.currentTarget),
  );
  $("export-json").addEventListener("click", (event) => guarded(() => exportSession("json"), event.currentTarget));
}

export function resetChat() {
  newChat();
  $("session-list").replaceChildren();
}
