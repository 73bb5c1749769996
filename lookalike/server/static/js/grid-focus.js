/* Roving focus in a grid of cards: one tab stop per grid, arrow keys (and Home / End) move
 * between cards. */

function focusables(li) {
  return li.querySelectorAll(".card-main, .feedback, .card-dups summary, .card-dups a");
}

/** Make `li` the grid's tab stop (its controls tabbable, every other card's not). */
export function setRovingCard(list, li) {
  for (const other of list.querySelectorAll(".card")) {
    const active = other === li;
    other.classList.toggle("is-current", active);
    for (const el of focusables(other)) el.tabIndex = active ? 0 : -1;
  }
}

function gridColumns(cards) {
  if (cards.length < 2) return 1;
  const top = cards[0].offsetTop;
  const n = cards.findIndex((c) => c.offsetTop !== top);
  return n < 0 ? cards.length : n;
}

export function wireGrid(list) {
  list.addEventListener("focusin", (e) => {
    const li = e.target.closest(".card");
    if (li && !li.classList.contains("is-current")) setRovingCard(list, li);
  });
  list.addEventListener("keydown", (e) => {
    const li = e.target.closest(".card");
    if (!li || !e.target.classList.contains("card-main")) return;
    const cards = [...list.querySelectorAll(".card")];
    const i = cards.indexOf(li);
    const cols = gridColumns(cards);
    const moves = {
      ArrowRight: i + 1,
      ArrowLeft: i - 1,
      ArrowDown: i + cols,
      ArrowUp: i - cols,
      Home: 0,
      End: cards.length - 1,
    };
    if (!(e.key in moves)) return;
    const target = cards[Math.max(0, Math.min(cards.length - 1, moves[e.key]))];
    e.preventDefault();
    setRovingCard(list, target);
    target.querySelector(".card-main").focus();
  });
}
