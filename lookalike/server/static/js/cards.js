/* Item cards (results, "For you" picks, catalog samples): the card, its near-duplicates, its
 * like / dislike toggles, and a grid of them. */

import { hashFor } from "./address.js";
import { MATCH_WORDS } from "./config.js";
import { setRovingCard } from "./grid-focus.js";
import { feedbackOf, toggleFeedback } from "./profile.js";
import { selectItem } from "./results.js";

export function title(item) {
  return item.metadata.ProductTitle || `Item ${item.id}`;
}

export function subtitle(item) {
  const m = item.metadata;
  return [m.ProductType || m.SubCategory || m.Category, m.Colour, m.Gender]
    .filter(Boolean)
    .join(" · ");
}

/** One result or sample card: a button that shows the item's lookalikes. ("li-pick": a
 * "For you" pick, whose order blends several likes: no closeness word, its reason instead.) */
function card(item, tag) {
  const li = document.createElement(tag === "li-pick" ? "li" : tag);
  li.className = "card";
  li.dataset.itemId = item.id;
  const isResult = item.rank !== undefined;
  if (isResult) {
    li.dataset.rank = String(item.rank);
    li.dataset.distance = String(item.distance);
    if (item.match) li.dataset.match = item.match;
  }

  const button = document.createElement("button");
  button.type = "button";
  button.className = "card-main";
  button.tabIndex = -1; // roving focus: the grid sets one card's tabindex to 0
  button.addEventListener("click", () => selectItem(item.id));

  // A result shows the product's photo that matched; a product's other photos are
  // counted, and shown when it is picked.
  const img = document.createElement("img");
  img.src = item.photo ? item.photo.thumbnail_url : item.thumbnail_url;
  img.alt = "";
  img.loading = "lazy";
  img.width = 192;
  img.height = 192;
  button.append(img);
  if (item.photo) li.dataset.photo = String(item.photo.number);
  if (item.photos && item.photos.length > 1) {
    const count = document.createElement("span");
    count.className = "card-photos";
    count.textContent = `${item.photos.length} photos`;
    button.append(count);
  }

  if (isResult && tag !== "li-pick") {
    const cue = document.createElement("span");
    cue.className = `card-cue cue-${item.rank === 1 ? "closest" : item.match || "similar"}`;
    cue.textContent =
      item.rank === 1 && item.match !== "distant"
        ? "Closest match"
        : MATCH_WORDS[item.match] || "Similar";
    button.append(cue);
  }
  const name = document.createElement("span");
  name.className = "card-title";
  name.textContent = title(item);
  const meta = document.createElement("span");
  meta.className = "card-meta";
  meta.textContent = subtitle(item);
  button.append(name, meta);
  if (tag === "li-pick" && item.reason) {
    // Why this pick, in one phrase ("because you bought ...", "trending now").
    const reason = document.createElement("span");
    reason.className = "card-reason";
    reason.textContent = item.reason;
    button.append(reason);
  }
  if (isResult) {
    // For retailers (the "Details" view): rank and distance, hidden from shoppers.
    const tech = document.createElement("span");
    tech.className = "card-tech";
    tech.textContent = `#${item.rank} · distance ${item.distance.toFixed(3)}`;
    button.append(tech);
  }
  li.append(button);

  if (item.duplicates && item.duplicates.length) li.append(duplicatesList(item));

  // Per-item actions: like / dislike toggles that feed the "For you" picks.
  const actions = document.createElement("div");
  actions.className = "card-actions";
  actions.append(feedbackButton(item, "like"), feedbackButton(item, "dislike"));
  li.append(actions);
  syncCard(li);
  return li;
}

/** The near-identical items collapsed into a result, one tap away. */
function duplicatesList(item) {
  const details = document.createElement("details");
  details.className = "card-dups";
  const summary = document.createElement("summary");
  summary.tabIndex = -1;
  const n = item.duplicates.length;
  summary.textContent = `${n} more with the same photo`;
  const list = document.createElement("ul");
  for (const id of item.duplicates) {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = hashFor({ query: { type: "item", id } });
    link.tabIndex = -1;
    link.textContent = `Item ${id}`;
    link.addEventListener("click", (e) => {
      e.preventDefault();
      selectItem(id);
    });
    li.append(link);
    list.append(li);
  }
  details.append(summary, list);
  return details;
}

/** A like or dislike toggle (aria-pressed) for one item. */
function feedbackButton(item, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.tabIndex = -1;
  button.className = `feedback feedback-${action}`;
  button.dataset.action = action;
  const name = title(item);
  const label = action === "like" ? `Like ${name}` : `Not for me: ${name}`;
  button.setAttribute("aria-label", label);
  button.title = action === "like" ? "Like: more like this" : "Not for me: fewer like this";
  button.textContent = action === "like" ? "\u2665" : "\u2715";
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", () => toggleFeedback(item, action));
  return button;
}

/** Fill `list` with one card per item (`tag`: "li", or "li-pick" for "For you"). */
export function renderGrid(list, items, tag) {
  list.replaceChildren(...items.map((item) => card(item, tag)));
  setRovingCard(list, list.querySelector(".card"));
}

/** Pressed states of one card's like / dislike buttons from the profile. */
function syncCard(li) {
  const feedback = feedbackOf(li.dataset.itemId);
  for (const button of li.querySelectorAll(".feedback")) {
    button.setAttribute("aria-pressed", String(button.dataset.action === feedback));
  }
  li.classList.toggle("is-liked", feedback === "like");
  li.classList.toggle("is-disliked", feedback === "dislike");
}

/** Every card on the page follows the profile. */
export function syncCards() {
  for (const li of document.querySelectorAll(".card[data-item-id]")) syncCard(li);
}
