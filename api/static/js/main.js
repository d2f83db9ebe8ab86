// The page: log in, then chats and documents. Each module wires its own part of the page.

import { setUpAuth } from "./auth.js";
import { loadSessions, resetChat, setUpChat } from "./chat.js";
import { loadDocuments, resetDocuments, setUpDocuments } from "./documents.js";
import { $, guarded } from "./ui.js";

function showApp(user) {
  $("account-name").textContent = user.username;
  $("account").hidden = false;
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  $("question").focus();
}

function showAuth() {
  resetChat();
  resetDocuments();
  $("account").hidden = true;
  $("app-view").hidden = true;
  $("auth-view").hidden = false;
}

setUpChat();
setUpDocuments();
setUpAuth({
  onLogin: async (user) => {
    showApp(user);
    await Promise.all([loadSessions(), guarded(loadDocuments)]);
  },
  onLogout: showAuth,
});
