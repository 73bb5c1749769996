/* Phone layout: below 900 px the filters open as a bottom sheet (a modal dialog, the rest of
 * the page inert) with a history entry of its own, so the phone's Back button closes it. */

import { applyHash, hashFor } from "./address.js";
import { els } from "./dom.js";
import { state } from "./state.js";

export const phoneLayout = window.matchMedia("(max-width: 899px)");

function openDrawer() {
  if (state.drawerOpen) return;
  state.drawerOpen = true;
  // An entry of its own, so the phone's Back button closes the sheet.
  history.pushState({ drawer: true }, "", location.href);
  els.filtersPanel.classList.add("open");
  els.filtersPanel.setAttribute("role", "dialog");
  els.filtersPanel.setAttribute("aria-modal", "true");
  els.backdrop.hidden = false;
  els.openFilters.setAttribute("aria-expanded", "true");
  for (const el of outsideDrawer()) el.inert = true;
  els.filtersHeading.focus();
}

function outsideDrawer() {
  return [
    document.querySelector(".site-header"),
    document.querySelector(".query-panel"),
    document.querySelector(".content"),
    document.querySelector(".site-footer"),
    document.querySelector(".skip-link"),
  ];
}

function hideDrawer() {
  state.drawerOpen = false;
  els.filtersPanel.classList.remove("open");
  els.filtersPanel.removeAttribute("role");
  els.filtersPanel.removeAttribute("aria-modal");
  els.backdrop.hidden = true;
  els.openFilters.setAttribute("aria-expanded", "false");
  for (const el of outsideDrawer()) el.inert = false;
  if (phoneLayout.matches) els.openFilters.focus();
}

function closeDrawer() {
  if (!state.drawerOpen) return;
  if (history.state && history.state.drawer) {
    state.closingDrawer = true;
    history.back(); // -> onPopState hides it and keeps the chosen filters
  } else {
    hideDrawer();
  }
}

/** Back / Forward: close the sheet if it is open, else show what the address says. */
export function onPopState() {
  if (state.drawerOpen || state.closingDrawer) {
    // Back (or Done) closed the sheet: keep the filters chosen in it.
    state.closingDrawer = false;
    const url = location.pathname + location.search + hashFor();
    history.replaceState(null, "", url);
    state.appliedHash = location.hash;
    hideDrawer();
    return;
  }
  applyHash({ focusResults: true });
}

/** The Filters button, Done, the backdrop, Escape, and leaving the phone layout. */
export function wireFiltersSheet() {
  els.openFilters.addEventListener("click", openDrawer);
  els.closeFilters.addEventListener("click", closeDrawer);
  els.backdrop.addEventListener("click", closeDrawer);
  els.filtersPanel.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.drawerOpen) closeDrawer();
  });
  phoneLayout.addEventListener("change", () => {
    if (!phoneLayout.matches && state.drawerOpen) closeDrawer();
  });
}
