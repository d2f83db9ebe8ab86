// Sign-up, email confirmation, log-in and log-out.

import { logout, request, setTokens, whenLoggedOut } from "./api.js";
import { $, clearBanners, formValues, guarded, showNotice } from "./ui.js";

// The token from what the person pasted: the link from the email, or the token alone.
export function tokenFrom(text) {
  const value = text.trim();
  const match = value.match(/(?:verify-email\/|[#?&](?:verify|token)=)([^/?#&\s]+)/);
  return decodeURIComponent(match ? match[1] : value);
}

// A token arriving with the page, as `/#verify=TOKEN` or `/?token=TOKEN`.
function tokenInAddress() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  return hash.get("verify") || query.get("token");
}

async function verify(token) {
  const { user } = await request("POST", "auth/verify-email", { token });
  showNotice(`Thanks, ${user.username}: your email is confirmed. You can log in now.`);
  $("login-name").value = user.username;
  $("login-password").focus();
}

export function setUpAuth({ onLogin, onLogout }) {
  const mailNote = $("mail-note");
  mailNote.textContent = mailNote.dataset.note;
  mailNote.hidden = !mailNote.dataset.note;

  $("signup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    guarded(async () => {
      const { user } = await request("POST", "auth/signup", formValues(form));
      form.reset();
      showNotice(`Account created. We sent a confirmation link to ${user.email}.`);
      $("verify-token").focus();
    }, form.querySelector("button"));
  });

  $("verify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    guarded(async () => {
      await verify(tokenFrom($("verify-token").value));
      form.reset();
    }, form.querySelector("button"));
  });

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    guarded(async () => {
      const pair = await request("POST", "auth/login", formValues(form));
      setTokens(pair);
      form.reset();
      clearBanners();
      await onLogin(pair.user);
    }, form.querySelector("button"));
  });

  $("logout").addEventListener("click", (event) =>
    guarded(async () => {
      try {
        await logout();
      } finally {
        onLogout();
      }
    }, event.currentTarget),
  );

  whenLoggedOut(() => {
    onLogout();
    showNotice("Your session has ended; please log in again.");
  });

  const token = tokenInAddress();
  if (token) {
    history.replaceState(null, "", location.pathname); // the token is single-use; keep it out of history
    guarded(() => verify(token));
  }
}
