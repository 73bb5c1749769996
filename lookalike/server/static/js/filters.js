/* Filters: the facet chips (GET /api/facets), the chosen filters above the results, and
 * keyboard focus that survives every re-render. Filters live in the address (f.COLUMN=). */

import { navigate } from "./address.js";
import { api, humanError, queryString } from "./api.js";
import { CHIPS_COLLAPSED, PREFERRED_FACETS } from "./config.js";
import { els } from "./dom.js";
import { phoneLayout } from "./filters-sheet.js";
import { showError } from "./messages.js";
import { state } from "./state.js";

function orderedFacets(facets) {
  const rank = (c) => {
    const i = PREFERRED_FACETS.indexOf(c);
    return i < 0 ? PREFERRED_FACETS.length : i;
  };
  return [...facets].sort((a, b) => rank(a.column) - rank(b.column));
}

function columnLabel(column) {
  return column.replace(/([a-z])([A-Z])/g, "$1 $2");
}

export function renderFacets() {
  const groups = state.facets.map((facet) => {
    const group = document.createElement("fieldset");
    group.className = "facet";
    group.dataset.column = facet.column;
    const legend = document.createElement("legend");
    legend.textContent = columnLabel(facet.column);
    group.append(legend);

    const selected = state.filters[facet.column] || [];
    const expanded = state.expanded.has(facet.column);
    const chips = [];
    facet.values.forEach((entry, i) => {
      const isOn = selected.includes(entry.value);
      // Selected chips stay visible even in a collapsed group.
      if (!expanded && i >= CHIPS_COLLAPSED && !isOn) return;
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.dataset.column = facet.column;
      chip.dataset.value = entry.value;
      chip.setAttribute("aria-pressed", String(isOn));
      // No items would match with this value added: dimmed, still clickable.
      chip.classList.toggle("chip-empty", entry.count === 0 && !isOn);
      chip.textContent = entry.value;
      const count = document.createElement("span");
      count.className = "chip-count";
      count.textContent = ` ${entry.count}`;
      chip.append(count);
      chip.addEventListener("click", () => toggleFilter(facet.column, entry.value));
      chips.push(chip);
      group.append(chip);
    });
    // Roving focus: one tab stop per group (its first selected chip, else its first).
    const current = chips.find((c) => c.getAttribute("aria-pressed") === "true") || chips[0];
    for (const chip of chips) chip.tabIndex = chip === current ? 0 : -1;
    if (facet.values.length > CHIPS_COLLAPSED) {
      const more = document.createElement("button");
      more.type = "button";
      more.className = "link-button more-button";
      more.setAttribute("aria-expanded", String(expanded));
      more.textContent = expanded ? "Show fewer" : `Show all ${facet.values.length}`;
      more.addEventListener("click", () => {
        if (expanded) state.expanded.delete(facet.column);
        else state.expanded.add(facet.column);
        renderFacets();
        focusChip(facet.column, null);
      });
      group.append(more);
    }
    return group;
  });
  if (!groups.length && state.facets.length === 0 && state.facetsLoaded) {
    const none = document.createElement("p");
    none.className = "muted";
    none.textContent = "This catalog has no filters.";
    groups.push(none);
  }
  if (groups.length || state.facetsLoaded) els.facets.replaceChildren(...groups);
  const n = Object.values(state.filters).flat().length;
  els.clearFilters.hidden = n === 0;
  els.filterCount.hidden = n === 0;
  els.filterCount.textContent = n ? ` ${n}` : "";
  els.openFilters.setAttribute("aria-label", n ? `Filters, ${n} chosen` : "Filters");
}

/** Arrow keys move between the chips of one filter group. */
function onFacetKey(e) {
  const chip = e.target.closest(".chip");
  if (!chip) return;
  const chips = [...chip.closest("fieldset").querySelectorAll(".chip")];
  const i = chips.indexOf(chip);
  const moves = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: chips.length - 1 };
  if (!(e.key in moves)) return;
  e.preventDefault();
  const target = chips[(moves[e.key] + chips.length) % chips.length];
  for (const c of chips) c.tabIndex = c === target ? 0 : -1;
  target.focus();
}

/** Keep keyboard focus on the chip (or the group's toggle) after a re-render. */
function focusChip(column, value) {
  const group = els.facets.querySelector(`fieldset[data-column="${CSS.escape(column)}"]`);
  if (!group) return;
  const target =
    value === null
      ? group.querySelector(".link-button")
      : group.querySelector(`.chip[data-value="${CSS.escape(value)}"]`);
  if (target) {
    if (target.classList.contains("chip")) {
      for (const c of group.querySelectorAll(".chip")) c.tabIndex = c === target ? 0 : -1;
    }
    target.focus();
  }
}

/** Filters change the current entry's address (Back goes to the previous search). */
function setFilters(filters) {
  navigate({ filters }, { replace: true, focusResults: false });
}

function toggleFilter(column, value) {
  const filters = { ...state.filters };
  const values = new Set(filters[column] || []);
  if (values.has(value)) values.delete(value);
  else values.add(value);
  if (values.size) filters[column] = [...values];
  else delete filters[column];
  setFilters(filters);
  focusChip(column, value);
}

/** The chosen filters above the results, each a button that removes it. */
export function renderActiveFilters() {
  const chips = [];
  for (const [column, values] of Object.entries(state.filters)) {
    for (const value of values) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "active-chip";
      button.dataset.column = column;
      button.dataset.value = value;
      button.setAttribute("aria-label", `Remove filter ${columnLabel(column)}: ${value}`);
      button.textContent = value;
      const x = document.createElement("span");
      x.setAttribute("aria-hidden", "true");
      x.textContent = " \u00d7";
      button.append(x);
      button.addEventListener("click", () => {
        const next = li.nextElementSibling || li.previousElementSibling;
        const nextValue = next && next.querySelector("button").dataset;
        toggleFilter(column, value);
        const again =
          nextValue &&
          els.activeFilters.querySelector(
            `.active-chip[data-column="${CSS.escape(nextValue.column)}"]` +
              `[data-value="${CSS.escape(nextValue.value)}"]`
          );
        (again || els.openFilters).focus();
      });
      li.append(button);
      chips.push(li);
    }
  }
  els.activeFilters.replaceChildren(...chips);
}

export async function loadFacets() {
  try {
    const seq = ++state.facetsSeq;
    const data = await api(`api/facets?${queryString({})}`);
    if (seq !== state.facetsSeq) return; // a newer filter change is on its way
    state.facets = orderedFacets(data.facets);
    state.facetsLoaded = true;
    showError(els.filtersError, "");
    // Re-rendering must not steal keyboard focus from a chip or a "Show all" toggle.
    const focused = document.activeElement;
    const group = els.facets.contains(focused) ? focused.closest("fieldset") : null;
    const value = group && focused.classList.contains("chip") ? focused.dataset.value : null;
    renderFacets();
    if (group) focusChip(group.dataset.column, value);
  } catch (err) {
    els.facets.textContent = "";
    showError(els.filtersError, `We couldn't load the filters. ${humanError(err, "")}`);
  }
}

/** "Clear all" and the chips' arrow keys. */
export function wireFilters() {
  els.clearFilters.addEventListener("click", () => {
    setFilters({});
    (phoneLayout.matches ? els.filtersHeading : els.uploadButton).focus();
  });
  els.facets.addEventListener("keydown", onFacetKey);
}
