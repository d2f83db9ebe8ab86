// Small DOM helpers shared by the page's modules. Text always goes in as text, never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function banner(id, message) {
  const node = $(id);
  node.textContent = message || "";
  node.hidden = !message;
}

export function showError(error) {
  banner("notice", "");
  banner("error", error instanceof Error ? error.message : String(error));
}

export function showNotice(message) {
  banner("error", "");
  banner("notice", message);
}

export function clearBanners() {
  banner("error", "");
  banner("notice", "");
}

// Run an async action from an event handler: its errors appear in the error banner,
// and the button that started it stays disabled until it ends.
export async function guarded(action, button) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}
