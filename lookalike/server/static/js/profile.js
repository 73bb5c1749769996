/* The shopper's profile and the "For you" section: like / dislike feedback, the profile chips,
 * and POST /api/recommend/profile's picks for it. */

import { navigate } from "./address.js";
import { api, humanError } from "./api.js";
import { renderGrid, syncCards, title } from "./cards.js";
import { FOR_YOU_COUNT, PROFILE_KEY, PROFILE_MAX } from "./config.js";
import { els } from "./dom.js";
import { setRovingCard } from "./grid-focus.js";
import { filterSummary, plural, setStatus } from "./messages.js";
import { loadProfile, saveProfile } from "./profile-store.js";
import { selectItem } from "./results.js";
import { state } from "./state.js";

/** "like", "dislike" or null: what the shopper said about item `id`. */
export function feedbackOf(id) {
  if (state.profile.liked.some((e) => e.id === id)) return "like";
  if (state.profile.disliked.some((e) => e.id === id)) return "dislike";
  return null;
}

/** Like or dislike an item; doing it again takes the feedback back. */
export function toggleFeedback(item, action) {
  const current = feedbackOf(item.id);
  const drop = (list) => list.filter((e) => e.id !== item.id);
  state.profile = { liked: drop(state.profile.liked), disliked: drop(state.profile.disliked) };
  if (current !== action) {
    const list = action === "like" ? state.profile.liked : state.profile.disliked;
    list.push({ id: item.id, title: title(item) });
    if (list.length > PROFILE_MAX) list.shift();
  }
  profileChanged();
}

function removeFeedback(id) {
  const drop = (list) => list.filter((e) => e.id !== id);
  state.profile = { liked: drop(state.profile.liked), disliked: drop(state.profile.disliked) };
  profileChanged();
}

function profileChanged() {
  saveProfile(state.profile);
  syncCards();
  renderProfile();
  refreshForYou();
}

/** The "For you" section's chips: liked items first, then dislikes. */
export function renderProfile() {
  const { liked, disliked } = state.profile;
  const empty = liked.length + disliked.length === 0;
  els.forYou.hidden = empty && !(state.query && state.query.type === "for-you");
  els.forYouLink.hidden = empty;
  els.forYouLink.textContent = liked.length ? `For you (${liked.length})` : "For you";
  const chips = [
    ...liked.map((e) => profileChip(e, "like")),
    ...disliked.map((e) => profileChip(e, "dislike")),
  ];
  els.profileChips.replaceChildren(...chips);
}

function profileChip(entry, feedback) {
  const li = document.createElement("li");
  li.className = `profile-chip profile-chip-${feedback}`;
  li.dataset.profileId = entry.id;
  li.dataset.feedback = feedback;

  const show = document.createElement("button");
  show.type = "button";
  show.className = "profile-chip-main";
  show.setAttribute(
    "aria-label",
    `${feedback === "like" ? "Liked" : "Not for me"}: ${entry.title}. Show its lookalikes`
  );
  show.addEventListener("click", () => selectItem(entry.id));
  const img = document.createElement("img");
  img.src = `api/items/${encodeURIComponent(entry.id)}/thumbnail`;
  img.alt = "";
  img.width = 24;
  img.height = 24;
  const mark = document.createElement("span");
  mark.className = "profile-chip-mark";
  mark.setAttribute("aria-hidden", "true");
  mark.textContent = feedback === "like" ? "\u2665" : "\u2715";
  const name = document.createElement("span");
  name.className = "profile-chip-title";
  name.textContent = entry.title;
  show.append(img, mark, name);

  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "profile-chip-remove";
  remove.setAttribute(
    "aria-label",
    `Remove ${entry.title} from your ${feedback === "like" ? "likes" : "dislikes"}`
  );
  remove.textContent = "\u00d7";
  remove.addEventListener("click", () => {
    const next = li.nextElementSibling || li.previousElementSibling;
    removeFeedback(entry.id);
    // Keep keyboard focus in the chip row (or on the heading when it empties).
    const target =
      next &&
      els.profileChips.querySelector(
        `[data-profile-id="${CSS.escape(next.dataset.profileId)}"] .profile-chip-remove`
      );
    (target || els.forYouHeading).focus();
  });
  li.append(show, remove);
  return li;
}

/** Ask the server for picks for the current profile and filters; newest answer wins. */
export async function refreshForYou() {
  if (state.forYouController) state.forYouController.abort();
  state.forYouController = null;
  const seq = ++state.forYouSeq;
  const { liked, disliked } = state.profile;
  if (!liked.length) {
    els.forYouResults.replaceChildren();
    els.forYouStatus.classList.remove("loading");
    els.forYouStatus.textContent = disliked.length
      ? "Like an item (\u2665) to get picks for you."
      : "Like items (\u2665) and your picks appear here.";
    return;
  }
  const controller = new AbortController();
  state.forYouController = controller;
  els.forYouStatus.textContent = "Finding picks for you\u2026";
  els.forYouStatus.classList.add("loading");
  els.forYouResults.setAttribute("aria-busy", "true");
  els.forYouResults.classList.add("is-loading");
  try {
    const data = await api("api/recommend/profile", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        liked: liked.map((e) => e.id),
        disliked: disliked.map((e) => e.id),
        k: FOR_YOU_COUNT,
        filters: state.filters,
        ignore_unknown: true, // items removed from the catalog since they were liked
      }),
      signal: controller.signal,
    });
    if (seq !== state.forYouSeq) return;
    if (data.ignored_ids && data.ignored_ids.length) {
      const gone = new Set(data.ignored_ids);
      const keep = (list) => list.filter((e) => !gone.has(e.id));
      state.profile = { liked: keep(state.profile.liked), disliked: keep(state.profile.disliked) };
      saveProfile(state.profile);
      renderProfile();
    }
    renderForYou(data.results);
    const n = data.results.length;
    const basis = [plural(data.query.liked.length, "like")];
    if (data.query.disliked.length) basis.push(plural(data.query.disliked.length, "dislike"));
    els.forYouStatus.textContent = n
      ? `${plural(n, "pick")}${filterSummary()} from your ${basis.join(" and ")}.`
      : `No more items${filterSummary()} to suggest. Try removing a filter.`;
  } catch (err) {
    if (err.name === "AbortError" || seq !== state.forYouSeq) return;
    els.forYouResults.replaceChildren();
    els.forYouStatus.textContent = `We couldn't get picks for you. ${humanError(err, "")}`;
  } finally {
    if (seq === state.forYouSeq) {
      state.forYouController = null;
      els.forYouStatus.classList.remove("loading");
      els.forYouResults.setAttribute("aria-busy", "false");
      els.forYouResults.classList.remove("is-loading");
    }
  }
}

/** Render the picks, keeping keyboard focus on the same item's button when it stays. */
function renderForYou(items) {
  const focused = document.activeElement;
  const inside = els.forYouResults.contains(focused);
  const card = inside ? focused.closest(".card") : null;
  const action = inside && focused.dataset ? focused.dataset.action : null;
  renderGrid(els.forYouResults, items, "li-pick");
  if (!inside) return;
  const again =
    card &&
    els.forYouResults.querySelector(
      `.card[data-item-id="${CSS.escape(card.dataset.itemId)}"] ` +
        (action ? `[data-action="${action}"]` : ".card-main")
    );
  if (again) setRovingCard(els.forYouResults, again.closest(".card"));
  (again || els.forYouHeading).focus();
}

/** The "For you" link, "Clear profile", and a profile changed in another tab. */
export function wireProfile() {
  els.forYouLink.addEventListener("click", (e) => {
    e.preventDefault();
    navigate({ query: { type: "for-you" } });
  });
  els.clearProfile.addEventListener("click", () => {
    state.profile = { liked: [], disliked: [] };
    profileChanged();
    setStatus("Your likes and dislikes are cleared.");
    els.uploadButton.focus();
  });
  // Another tab changed the profile: follow it.
  window.addEventListener("storage", (e) => {
    if (e.key !== PROFILE_KEY && e.key !== null) return;
    state.profile = loadProfile();
    syncCards();
    renderProfile();
    refreshForYou();
  });
}
