/* lookalike web page: upload a photo or pick a catalog item, see its lookalikes.
 *
 * Plain JavaScript, no build step. All data comes from the JSON API next to this page
 * (see /docs). State lives in `state`; every render function rebuilds its part of the DOM.
 * Item queries are mirrored in the URL hash (#item=ID) so Back and shared links work.
 * Likes and dislikes form the shopper's profile, kept in localStorage; the "For you" section
 * shows POST /api/recommend/profile's picks for it and follows every change.
 */
(function () {
  "use strict";

  // Columns shown as filter chips, in this order, when the catalog has them; other
  // low-cardinality columns follow.
  const PREFERRED_FACETS = ["Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage"];
  const CHIPS_COLLAPSED = 12; // values shown before "Show all" in a long facet
  const SAMPLE_COUNT = 12;
  const FOR_YOU_COUNT = 10;
  const PROFILE_KEY = "lookalike.profile.v1"; // localStorage: {liked: [...], disliked: [...]}
  const PROFILE_MAX = 200; // per list; the oldest feedback goes first

  const state = {
    k: 10,
    filters: {}, // column -> array of selected values
    query: null, // {type: "file", file} | {type: "item", id}
    seed: initialSeed(),
    expanded: new Set(), // facet columns showing all their values
    facets: [],
    facetsSeq: 0, // request counters: only the newest answer is rendered
    samplesSeq: 0,
    maxUploadBytes: null, // from /healthz; larger photos are refused before uploading
    controller: null, // AbortController of the query in flight
    profile: loadProfile(), // {liked: [{id, title}], disliked: [{id, title}]}, newest last
    forYouSeq: 0,
    forYouController: null,
  };

  const $ = (id) => document.getElementById(id);
  const els = {
    fileInput: $("file-input"),
    uploadButton: $("upload-button"),
    dropZone: $("drop-zone"),
    preview: $("query-preview"),
    previewImage: $("query-image"),
    previewCaption: $("query-caption"),
    kSelect: $("k-select"),
    facets: $("facets"),
    clearFilters: $("clear-filters"),
    status: $("status"),
    error: $("error"),
    resultsSection: $("results-section"),
    resultsHeading: $("results-heading"),
    results: $("results"),
    samples: $("samples"),
    shuffle: $("shuffle"),
    catalogInfo: $("catalog-info"),
    forYou: $("for-you"),
    forYouHeading: $("for-you-heading"),
    forYouStatus: $("for-you-status"),
    forYouResults: $("for-you-results"),
    profileChips: $("profile-chips"),
    clearProfile: $("clear-profile"),
  };

  function initialSeed() {
    // ?seed=N gives a reproducible landing page (screenshots, tests).
    const fromUrl = Number.parseInt(new URLSearchParams(location.search).get("seed"), 10);
    return Number.isFinite(fromUrl) && fromUrl >= 0 ? fromUrl : Math.floor(Math.random() * 1e9);
  }

  // --- HTTP ------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  /** The query string for `params` plus the active filters (repeated keys per value). */
  function queryString(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) search.append(key, String(value));
    for (const [column, values] of Object.entries(state.filters)) {
      for (const value of values) search.append(column, value);
    }
    return search.toString();
  }

  /** fetch + JSON; non-2xx answers become ApiError with the server's own message. */
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError("Cannot reach the lookalike server. Is it running?", "network");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : response.statusText;
      throw new ApiError(detail || `request failed (${response.status})`, body && body.error);
    }
    return body;
  }

  // --- status and errors -----------------------------------------------------------------
  function setStatus(text, loading = false) {
    els.status.textContent = text;
    els.status.classList.toggle("loading", loading);
  }

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = !message;
  }

  // --- cards -----------------------------------------------------------------------------
  function title(item) {
    return item.metadata.ProductTitle || `Item ${item.id}`;
  }

  function subtitle(item) {
    const m = item.metadata;
    return [m.ProductType || m.SubCategory || m.Category, m.Colour, m.Gender]
      .filter(Boolean)
      .join(" · ");
  }

  /** One result or sample card: a button that shows the item's lookalikes. */
  function card(item, tag) {
    const li = document.createElement(tag);
    li.className = "card";
    li.dataset.itemId = item.id;
    if (item.rank !== undefined) {
      li.dataset.rank = String(item.rank);
      li.dataset.distance = String(item.distance);
    }

    const button = document.createElement("button");
    button.type = "button";
    button.className = "card-main";
    const sub = subtitle(item);
    button.setAttribute("aria-label", `Show lookalikes of ${title(item)}${sub ? ` (${sub})` : ""}`);
    button.addEventListener("click", () => selectItem(item.id));

    const img = document.createElement("img");
    img.src = item.thumbnail_url;
    img.alt = title(item);
    img.loading = "lazy";
    img.width = 192;
    img.height = 192;
    button.append(img);

    if (item.rank !== undefined) {
      const rank = document.createElement("span");
      rank.className = "card-rank";
      rank.textContent = `#${item.rank}`;
      button.append(rank);
    }
    const name = document.createElement("span");
    name.className = "card-title";
    name.textContent = title(item);
    const meta = document.createElement("span");
    meta.className = "card-meta";
    meta.textContent = subtitle(item);
    button.append(name, meta);
    if (item.distance !== undefined) {
      const distance = document.createElement("span");
      distance.className = "card-distance";
      distance.textContent = `distance ${item.distance.toFixed(3)}`;
      button.append(distance);
    }
    li.append(button);

    // Per-item actions: like / dislike toggles that feed the "For you" picks.
    const actions = document.createElement("div");
    actions.className = "card-actions";
    actions.dataset.slot = "actions";
    actions.append(feedbackButton(item, "like"), feedbackButton(item, "dislike"));
    li.append(actions);
    syncCard(li);
    return li;
  }

  /** A like or dislike toggle (aria-pressed) for one item. */
  function feedbackButton(item, action) {
    const button = document.createElement("button");
    button.type = "button";
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

  function renderGrid(list, items, tag) {
    list.replaceChildren(...items.map((item) => card(item, tag)));
  }

  // --- profile (likes / dislikes) --------------------------------------------------------
  /** The saved profile, or an empty one (storage blocked, absent or garbled). */
  function loadProfile() {
    const empty = { liked: [], disliked: [] };
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(PROFILE_KEY) || "null");
    } catch (_) {
      return empty;
    }
    if (!saved || typeof saved !== "object") return empty;
    const entries = (list) =>
      (Array.isArray(list) ? list : [])
        .filter((e) => e && typeof e.id === "string" && e.id)
        .map((e) => ({ id: e.id, title: typeof e.title === "string" ? e.title : `Item ${e.id}` }))
        .slice(-PROFILE_MAX);
    const liked = entries(saved.liked);
    const likedIds = new Set(liked.map((e) => e.id));
    return { liked, disliked: entries(saved.disliked).filter((e) => !likedIds.has(e.id)) };
  }

  function saveProfile() {
    try {
      if (state.profile.liked.length || state.profile.disliked.length) {
        localStorage.setItem(PROFILE_KEY, JSON.stringify(state.profile));
      } else {
        localStorage.removeItem(PROFILE_KEY);
      }
    } catch (_) {
      // Private mode or a full quota: the profile lasts for this page only.
    }
  }

  function feedbackOf(id) {
    if (state.profile.liked.some((e) => e.id === id)) return "like";
    if (state.profile.disliked.some((e) => e.id === id)) return "dislike";
    return null;
  }

  /** Like or dislike an item; doing it again takes the feedback back. */
  function toggleFeedback(item, action) {
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
    saveProfile();
    syncCards();
    renderProfile();
    refreshForYou();
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

  function syncCards() {
    for (const li of document.querySelectorAll(".card[data-item-id]")) syncCard(li);
  }

  /** The "For you" section's chips: liked items first, then dislikes. */
  function renderProfile() {
    const { liked, disliked } = state.profile;
    els.forYou.hidden = liked.length + disliked.length === 0;
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
      const target = next && els.profileChips.querySelector(
        `[data-profile-id="${CSS.escape(next.dataset.profileId)}"] .profile-chip-remove`
      );
      (target || els.forYouHeading).focus();
    });
    li.append(show, remove);
    return li;
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  /** Ask the server for picks for the current profile and filters; newest answer wins. */
  async function refreshForYou() {
    if (state.forYouController) state.forYouController.abort();
    state.forYouController = null;
    const seq = ++state.forYouSeq;
    const { liked, disliked } = state.profile;
    if (!liked.length) {
      els.forYouResults.replaceChildren();
      els.forYouStatus.classList.remove("loading");
      els.forYouStatus.textContent = disliked.length
        ? "Like an item (\u2665) to get picks for you."
        : "";
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
        saveProfile();
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
      els.forYouStatus.textContent = `Could not get picks for you: ${err.message}`;
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
    renderGrid(els.forYouResults, items, "li");
    if (!inside) return;
    const again =
      card &&
      els.forYouResults.querySelector(
        `.card[data-item-id="${CSS.escape(card.dataset.itemId)}"] ` +
          (action ? `[data-action="${action}"]` : ".card-main")
      );
    (again || els.forYouHeading).focus();
  }

  // --- queries ---------------------------------------------------------------------------
  function filterSummary() {
    const parts = Object.entries(state.filters).map(([c, v]) => `${c}: ${v.join(" or ")}`);
    return parts.length ? ` matching ${parts.join(", ")}` : "";
  }

  /** Run the current query (photo or item) with the current k and filters. */
  async function runQuery({ focusResults = false } = {}) {
    const query = state.query;
    if (!query) return;
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;

    showError("");
    setStatus("Finding lookalikes…", true);
    els.resultsSection.hidden = false;
    els.results.setAttribute("aria-busy", "true");
    els.results.classList.add("is-loading");
    try {
      let data;
      if (query.type === "file") {
        const form = new FormData();
        form.append("image", query.file, query.file.name || "photo");
        data = await api(`api/recommend?${queryString({ k: state.k })}`, {
          method: "POST",
          body: form,
          signal: controller.signal,
        });
      } else {
        const id = encodeURIComponent(query.id);
        data = await api(`api/items/${id}/similar?${queryString({ k: state.k })}`, {
          signal: controller.signal,
        });
        showItemPreview(data.query.item);
      }
      renderGrid(els.results, data.results, "li");
      const n = data.results.length;
      setStatus(
        n
          ? `${n} lookalike${n === 1 ? "" : "s"}${filterSummary()} in ${Math.round(data.took_ms)} ms.`
          : `No catalog items${filterSummary()}. Try removing a filter.`
      );
      if (focusResults) els.resultsHeading.focus({ preventScroll: false });
    } catch (err) {
      if (err.name === "AbortError") return;
      els.results.replaceChildren();
      els.resultsSection.hidden = true;
      setStatus("");
      showError(`Could not get lookalikes: ${err.message}`);
    } finally {
      if (state.controller === controller) {
        state.controller = null;
        els.results.setAttribute("aria-busy", "false");
        els.results.classList.remove("is-loading");
      }
    }
  }

  function megabytes(bytes) {
    return `${(bytes / 2 ** 20).toFixed(1).replace(/\.0$/, "")} MB`;
  }

  function useFile(file) {
    if (!file) return;
    if (state.maxUploadBytes && file.size > state.maxUploadBytes) {
      // The server would refuse it too (413); saying so now spares a long upload.
      setStatus("");
      showError(
        `${file.name || "This photo"} is ${megabytes(file.size)}; the limit is ` +
          `${megabytes(state.maxUploadBytes)}. Choose a smaller photo.`
      );
      return;
    }
    state.query = { type: "file", file };
    // An upload is not addressable; drop any #item=... so Back returns to it.
    if (location.hash) history.pushState(null, "", location.pathname + location.search);
    if (els.previewImage.src.startsWith("blob:")) URL.revokeObjectURL(els.previewImage.src);
    els.previewImage.src = URL.createObjectURL(file);
    els.previewImage.alt = `Your photo ${file.name || ""}`.trim();
    els.previewImage.hidden = false;
    els.previewCaption.textContent = file.name ? `Your photo: ${file.name}` : "Your photo";
    els.preview.hidden = false;
    els.resultsHeading.textContent = "Lookalikes of your photo";
    runQuery({ focusResults: true });
  }

  function showItemPreview(item) {
    if (els.previewImage.src.startsWith("blob:")) URL.revokeObjectURL(els.previewImage.src);
    els.previewImage.src = item.thumbnail_url;
    els.previewImage.alt = title(item);
    els.previewImage.hidden = false;
    els.previewCaption.textContent = [title(item), subtitle(item)].filter(Boolean).join(" · ");
    els.preview.hidden = false;
    els.resultsHeading.textContent = `Lookalikes of ${title(item)}`;
  }

  /** Show the lookalikes of a catalog item (via the URL hash, so Back works). */
  function selectItem(id) {
    const target = `#item=${encodeURIComponent(id)}`;
    if (location.hash === target) {
      state.query = { type: "item", id };
      runQuery({ focusResults: true });
    } else {
      location.hash = target; // -> onHashChange
    }
  }

  function onHashChange() {
    const match = /^#item=(.+)$/.exec(location.hash);
    if (!match) return;
    state.query = { type: "item", id: decodeURIComponent(match[1]) };
    runQuery({ focusResults: true });
  }

  // --- samples ---------------------------------------------------------------------------
  async function loadSamples() {
    els.samples.setAttribute("aria-busy", "true");
    try {
      const qs = queryString({ random: state.seed, limit: SAMPLE_COUNT });
      const seq = ++state.samplesSeq;
      const data = await api(`api/items?${qs}`);
      if (seq !== state.samplesSeq) return; // superseded by a newer request
      renderGrid(els.samples, data.items, "li");
      if (!data.items.length) {
        const empty = document.createElement("li");
        empty.className = "muted";
        empty.textContent = "No catalog items match these filters.";
        els.samples.replaceChildren(empty);
      }
    } catch (err) {
      showError(`Could not load catalog items: ${err.message}`);
    } finally {
      els.samples.setAttribute("aria-busy", "false");
    }
  }

  // --- filters ---------------------------------------------------------------------------
  function orderedFacets(facets) {
    const rank = (c) => {
      const i = PREFERRED_FACETS.indexOf(c);
      return i < 0 ? PREFERRED_FACETS.length : i;
    };
    return [...facets].sort((a, b) => rank(a.column) - rank(b.column));
  }

  function renderFacets() {
    const groups = state.facets.map((facet) => {
      const group = document.createElement("fieldset");
      group.className = "facet";
      group.dataset.column = facet.column;
      const legend = document.createElement("legend");
      legend.textContent = facet.column.replace(/([a-z])([A-Z])/g, "$1 $2");
      group.append(legend);

      const selected = state.filters[facet.column] || [];
      const expanded = state.expanded.has(facet.column);
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
        count.textContent = String(entry.count);
        count.setAttribute("aria-label", `${entry.count} items`);
        chip.append(" ", count);
        chip.addEventListener("click", () => toggleFilter(facet.column, entry.value));
        group.append(chip);
      });
      if (facet.values.length > CHIPS_COLLAPSED) {
        const more = document.createElement("button");
        more.type = "button";
        more.className = "link-button";
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
    if (!groups.length) {
      const none = document.createElement("p");
      none.className = "muted";
      none.textContent = "This catalog has no filterable columns.";
      groups.push(none);
    }
    els.facets.replaceChildren(...groups);
    els.clearFilters.hidden = Object.keys(state.filters).length === 0;
  }

  /** Keep keyboard focus on the chip (or the group's toggle) after a re-render. */
  function focusChip(column, value) {
    const group = els.facets.querySelector(`fieldset[data-column="${CSS.escape(column)}"]`);
    if (!group) return;
    const target =
      value === null
        ? group.querySelector(".link-button")
        : group.querySelector(`.chip[data-value="${CSS.escape(value)}"]`);
    if (target) target.focus();
  }

  function toggleFilter(column, value) {
    const values = new Set(state.filters[column] || []);
    if (values.has(value)) values.delete(value);
    else values.add(value);
    if (values.size) state.filters[column] = [...values];
    else delete state.filters[column];
    renderFacets();
    focusChip(column, value);
    filtersChanged();
  }

  function filtersChanged() {
    loadFacets();
    loadSamples();
    runQuery();
    refreshForYou();
  }

  async function loadFacets() {
    try {
      const seq = ++state.facetsSeq;
      const data = await api(`api/facets?${queryString({})}`);
      if (seq !== state.facetsSeq) return; // a newer filter change is on its way
      state.facets = orderedFacets(data.facets);
      // Re-rendering must not steal keyboard focus from a chip or a "Show all" toggle.
      const focused = document.activeElement;
      const group = els.facets.contains(focused) ? focused.closest("fieldset") : null;
      const value = group && focused.classList.contains("chip") ? focused.dataset.value : null;
      renderFacets();
      if (group) focusChip(group.dataset.column, value);
    } catch (err) {
      els.facets.textContent = "";
      showError(`Could not load filters: ${err.message}`);
    }
  }

  async function loadCatalogInfo() {
    try {
      const info = await api("healthz");
      state.maxUploadBytes = info.max_upload_bytes || null;
      els.catalogInfo.textContent =
        `${info.items.toLocaleString()} catalog items · encoder ${info.encoder} · ` +
        `bundle ${info.bundle_version}`;
    } catch (_) {
      els.catalogInfo.textContent = "";
    }
  }

  // --- wiring ----------------------------------------------------------------------------
  function wire() {
    els.uploadButton.addEventListener("click", () => els.fileInput.click());
    els.fileInput.addEventListener("change", () => {
      useFile(els.fileInput.files[0]);
      els.fileInput.value = ""; // choosing the same file again still fires "change"
    });

    // Drag and drop onto the drop zone; elsewhere a dropped file must not navigate away.
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (e) => e.preventDefault());
    }
    els.dropZone.addEventListener("dragenter", () => els.dropZone.classList.add("dragging"));
    els.dropZone.addEventListener("dragover", (e) => {
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
      els.dropZone.classList.add("dragging");
    });
    els.dropZone.addEventListener("dragleave", (e) => {
      if (!els.dropZone.contains(e.relatedTarget)) els.dropZone.classList.remove("dragging");
    });
    els.dropZone.addEventListener("drop", (e) => {
      e.preventDefault();
      els.dropZone.classList.remove("dragging");
      const file = e.dataTransfer.files && e.dataTransfer.files[0];
      if (file) useFile(file);
    });
    document.addEventListener("paste", (e) => {
      const file = [...(e.clipboardData ? e.clipboardData.files : [])][0];
      if (file) useFile(file);
    });

    els.previewImage.addEventListener("error", () => {
      els.previewImage.hidden = true; // e.g. a file the browser cannot show
    });
    els.kSelect.addEventListener("change", () => {
      state.k = Number.parseInt(els.kSelect.value, 10);
      runQuery();
    });
    els.clearFilters.addEventListener("click", () => {
      state.filters = {};
      renderFacets();
      filtersChanged();
      els.uploadButton.focus();
    });
    els.shuffle.addEventListener("click", () => {
      state.seed = Math.floor(Math.random() * 1e9);
      loadSamples();
    });
    window.addEventListener("hashchange", onHashChange);
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

  wire();
  state.k = Number.parseInt(els.kSelect.value, 10);
  loadCatalogInfo();
  loadFacets();
  loadSamples();
  renderProfile();
  refreshForYou();
  onHashChange();
})();
