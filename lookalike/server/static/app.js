/* lookalike web page: take or choose a photo, or pick a catalog item, and see its lookalikes.
 *
 * Plain JavaScript, no build step. All data comes from the JSON API next to this page
 * (see /docs). What the shopper sees is a function of the address: the part after "#" names
 * the query (item=ID, photo=a small JPEG of the uploaded photo, or view=for-you), the part of
 * the photo to match (crop=x,y,w,h, set with the crop box), the number of results (k=) and
 * the filters (f.COLUMN=VALUE, repeated), so Back, Forward, reloads and shared links all
 * restore it. Uploaded photos are shrunk in the browser before they are sent. Likes and
 * dislikes form the shopper's profile, kept in localStorage; the "For you" section shows
 * POST /api/recommend/profile's picks for it.
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
  const UPLOAD_SIDE = 1600; // longest side of the photo sent to the server
  const SHARE_SIDE = 320; // longest side of the copy carried in the address (#photo=)
  const K_CHOICES = [5, 10, 20, 50];
  // The crop box: fractions [x, y, w, h] of the photo, as the API's crop= takes them.
  const WHOLE_PHOTO = [0, 0, 1, 1];
  const CROP_MIN = 0.1; // the smallest side, so the box never vanishes under a finger
  const CROP_STEP = 0.02; // one arrow key press
  const CROP_KEY_WAIT = 400; // ms after the last key release before results refresh
  const CROP_DRAG_WAIT = 150; // ms after a drag ends (a second drag right after joins it)
  // Shopper words for the API's "match" field.
  const MATCH_WORDS = {
    same: "Same design",
    close: "Very similar",
    similar: "Similar",
    distant: "Loosely similar",
  };

  const state = {
    k: 10,
    filters: {}, // column -> array of selected values
    query: null, // {type: "photo", key, crop} | {type: "item", id} | {type: "for-you"} | null
    seed: initialSeed(),
    expanded: new Set(), // facet columns showing all their values
    facets: [],
    facetsLoaded: false,
    facetsSeq: 0, // request counters: only the newest answer is rendered
    samplesSeq: 0,
    maxUploadBytes: null, // from /healthz
    controller: null, // AbortController of the query in flight
    profile: loadProfile(), // {liked: [{id, title}], disliked: [{id, title}]}, newest last
    forYouSeq: 0,
    forYouController: null,
    photos: new Map(), // photo key -> {blob, name}: photos of this visit, for Back/Forward
    appliedHash: null, // the address part last shown
    filtersKey: "", // the filters the facets and samples were last loaded for
    drawerOpen: false,
    closingDrawer: false,
    health: null,
    previewKey: null, // the photo the preview shows (kept while only its crop changes)
    cropShown: null, // [x, y, w, h] the crop box shows
    cropAnswered: null, // the crop the shown results answer (the server's pick or the asked)
    cropDrag: null, // the pointer drag in progress
    cropTimer: 0, // a pending refresh after a change
  };

  const $ = (id) => document.getElementById(id);
  const els = {
    fileInput: $("file-input"),
    cameraInput: $("camera-input"),
    uploadButton: $("upload-button"),
    cameraButton: $("camera-button"),
    dropZone: $("drop-zone"),
    photoError: $("photo-error"),
    preview: $("query-preview"),
    previewImage: $("query-image"),
    previewCaption: $("query-caption"),
    previewPhotos: $("preview-photos"),
    cropFrame: $("crop-frame"),
    cropBox: $("crop-box"),
    cropControls: $("crop-controls"),
    cropReset: $("crop-reset"),
    kSelect: $("k-select"),
    filtersPanel: $("filters-panel"),
    filtersHeading: $("filters-heading"),
    filtersError: $("filters-error"),
    facets: $("facets"),
    clearFilters: $("clear-filters"),
    openFilters: $("open-filters"),
    closeFilters: $("close-filters"),
    filterCount: $("filter-count"),
    activeFilters: $("active-filters"),
    backdrop: $("sheet-backdrop"),
    status: $("status"),
    error: $("error"),
    resultsSection: $("results-section"),
    resultsHeading: $("results-heading"),
    resultsNote: $("results-note"),
    results: $("results"),
    share: $("share"),
    samples: $("samples"),
    samplesNote: $("samples-note"),
    shuffle: $("shuffle"),
    catalogInfo: $("catalog-info"),
    forYou: $("for-you"),
    forYouLink: $("for-you-link"),
    forYouHeading: $("for-you-heading"),
    forYouStatus: $("for-you-status"),
    forYouResults: $("for-you-results"),
    profileChips: $("profile-chips"),
    clearProfile: $("clear-profile"),
    detailsToggle: $("details-toggle"),
    details: $("details"),
    detailsCatalog: $("details-catalog"),
    detailsQuery: $("details-query"),
  };

  function initialSeed() {
    // ?seed=N gives a reproducible landing page (screenshots, tests).
    const fromUrl = Number.parseInt(new URLSearchParams(location.search).get("seed"), 10);
    return Number.isFinite(fromUrl) && fromUrl >= 0 ? fromUrl : Math.floor(Math.random() * 1e9);
  }

  // --- HTTP ------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, code, status) {
      super(message);
      this.code = code;
      this.status = status;
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

  /** fetch + JSON; non-2xx answers become ApiError with the server's code and detail. */
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError("network error", "network", 0);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : response.statusText;
      const code = (body && body.error) || `http_${response.status}`;
      throw new ApiError(detail || `request failed (${response.status})`, code, response.status);
    }
    return body;
  }

  /** Words a shopper understands for an API error; the server's detail goes to "details". */
  function humanError(err, subject) {
    noteTechnical(`${err.code || "error"}: ${err.message}`);
    if (err.code === "network") return "We can't reach the shop right now. Check your connection and try again.";
    if (err.status === 413) return `${subject} is too large to send. Try a smaller photo.`;
    if (err.status === 415 || err.code === "invalid_image") {
      return `${subject} isn't a photo we can read. Try a JPEG, PNG or WebP picture.`;
    }
    if (err.status === 404) return "We couldn't find that item. It may no longer be in the catalog.";
    if (err.code === "invalid_crop") {
      return "That part of the photo can't be matched. Choose Whole photo and try again.";
    }
    if (err.code === "invalid_filter") {
      return "One of the filters no longer exists in this catalog. Clear the filters and try again.";
    }
    if (err.status === 503 || err.status === 429) return "The shop is busy. Try again in a moment.";
    return "Something went wrong on our side. Try again in a moment.";
  }

  // --- status, errors and the retailer's details -----------------------------------------
  function setStatus(text, loading = false) {
    els.status.textContent = text;
    els.status.classList.toggle("loading", loading);
  }

  /** Show (or with "" hide) an error box; bring it into view when it appears. */
  function showError(box, message) {
    box.textContent = message;
    box.hidden = !message;
    if (message && box.getClientRects().length) box.scrollIntoView({ block: "center" });
  }

  function clearErrors() {
    for (const box of [els.photoError, els.error]) showError(box, "");
  }

  function noteTechnical(text) {
    els.detailsQuery.textContent = text;
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

  /** One result or sample card: a button that shows the item's lookalikes. ("li-pick": a
   * "For you" pick, whose order blends several likes: no closeness word.) */
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

  function renderGrid(list, items, tag) {
    list.replaceChildren(...items.map((item) => card(item, tag)));
    setRovingCard(list, list.querySelector(".card"));
  }

  // --- roving focus: one tab stop per grid, arrow keys move between cards -----------------
  function focusables(li) {
    return li.querySelectorAll(".card-main, .feedback, .card-dups summary, .card-dups a");
  }

  /** Make `li` the grid's tab stop (its controls tabbable, every other card's not). */
  function setRovingCard(list, li) {
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

  function wireGrid(list) {
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

  // --- the address: what is shown, as #item=ID | #photo=DATA | #view=for-you, k, filters ---
  function hashFor({ query = state.query, k = state.k, filters = state.filters } = {}) {
    const params = new URLSearchParams();
    if (query && query.type === "item") params.set("item", query.id);
    if (query && query.type === "photo") params.set("photo", query.key);
    if (query && query.type === "photo" && query.crop) params.set("crop", cropText(query.crop));
    if (query && query.type === "for-you") params.set("view", "for-you");
    if (k !== 10) params.set("k", String(k));
    for (const [column, values] of Object.entries(filters)) {
      for (const value of values) params.append(`f.${column}`, value);
    }
    const text = params.toString();
    return text ? `#${text}` : "";
  }

  /** What an address shows. Never throws: a garbled address is shown as an error. */
  function parseHash(hash) {
    // URLSearchParams decodes percent escapes leniently (bad bytes become U+FFFD).
    const params = new URLSearchParams(hash.replace(/^#/, ""));
    const filters = {};
    for (const [key, value] of params) {
      if (key.startsWith("f.") && key.length > 2 && value) {
        const column = key.slice(2);
        (filters[column] = filters[column] || []).push(value);
      }
    }
    const k = Number.parseInt(params.get("k"), 10);
    let query = null;
    if (params.get("item")) query = { type: "item", id: params.get("item") };
    else if (params.get("photo")) {
      query = { type: "photo", key: params.get("photo"), crop: parseCrop(params.get("crop")) };
    }
    else if (params.get("view") === "for-you") query = { type: "for-you" };
    return { query, k: K_CHOICES.includes(k) ? k : 10, filters };
  }

  /** Go to a new state: a new history entry (or the same one with `replace`). */
  function navigate(changes, { replace = false, focusResults = true } = {}) {
    const next = { query: state.query, k: state.k, filters: state.filters, ...changes };
    const url = location.pathname + location.search + hashFor(next);
    if (replace) history.replaceState(history.state, "", url); // (keeps the sheet's mark)
    else history.pushState(null, "", url);
    applyHash({ focusResults });
  }

  /** Show what the address says (on load, Back, Forward and every navigation). */
  function applyHash({ focusResults = false } = {}) {
    const hash = location.hash;
    if (hash === state.appliedHash) return;
    if (/^#[\w-]+$/.test(hash) && document.getElementById(hash.slice(1))) {
      // An in-page anchor (e.g. typed by hand), not a state: keep showing what was shown.
      history.replaceState(history.state, "", location.pathname + location.search + hashFor());
      state.appliedHash = location.hash;
      return;
    }
    state.appliedHash = hash;
    const next = parseHash(hash);
    state.k = next.k;
    els.kSelect.value = String(next.k);
    state.filters = next.filters;
    const filtersKey = JSON.stringify(next.filters);
    const filtersChanged = filtersKey !== state.filtersKey;
    state.filtersKey = filtersKey;
    state.query = next.query;
    renderActiveFilters();
    if (filtersChanged) {
      renderFacets();
      loadFacets();
      loadSamples();
      refreshForYou();
    }
    renderProfile();
    showQuery({ focusResults });
  }

  // --- queries ---------------------------------------------------------------------------
  function filterSummary() {
    const values = Object.values(state.filters).flat();
    return values.length ? ` (${values.join(", ")})` : "";
  }

  function clearResults() {
    if (state.controller) state.controller.abort();
    state.controller = null;
    els.results.replaceChildren();
    els.resultsSection.hidden = true;
    els.resultsNote.hidden = true;
    setStatus("");
  }

  function clearPreview() {
    hideCrop();
    state.previewKey = null;
    if (els.previewImage.src.startsWith("blob:")) URL.revokeObjectURL(els.previewImage.src);
    els.previewImage.removeAttribute("src");
    els.previewImage.alt = "";
    els.previewCaption.textContent = "";
    els.previewPhotos.replaceChildren();
    els.previewPhotos.hidden = true;
    els.preview.hidden = true;
  }

  /** Show the state's query: a photo's or an item's lookalikes, "For you", or nothing. */
  function showQuery({ focusResults }) {
    const query = state.query;
    els.forYou.classList.toggle("is-view", !!(query && query.type === "for-you"));
    if (!query || query.type === "for-you") {
      clearErrors();
      clearResults();
      clearPreview();
      if (query) {
        els.forYou.hidden = false;
        if (focusResults) els.forYouHeading.focus();
      }
      return;
    }
    if (query.type === "photo") {
      let photo = state.photos.get(query.key);
      if (!photo) {
        const blob = dataToBlob(query.key);
        if (!blob) {
          clearResults();
          clearPreview();
          showError(els.photoError, "This link's photo is damaged. Choose the photo again.");
          return;
        }
        photo = { blob, name: "" };
        state.photos.set(query.key, photo);
      }
      // Only the crop changed: keep the photo and its crop box where they are.
      if (state.previewKey !== query.key) showPhotoPreview(photo, query.key);
    }
    runQuery({ focusResults });
  }

  /** Run the current query (photo or item) with the current k and filters. */
  async function runQuery({ focusResults = false } = {}) {
    const query = state.query;
    if (!query || query.type === "for-you") return;
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;

    clearErrors();
    setStatus("Finding lookalikes…", true);
    els.resultsSection.hidden = false;
    els.resultsNote.hidden = true;
    els.results.setAttribute("aria-busy", "true");
    els.results.classList.add("is-loading");
    const params = { k: state.k };
    let photo = null;
    try {
      let data;
      if (query.type === "photo") {
        photo = state.photos.get(query.key);
        if (query.crop) params.crop = cropText(query.crop);
        const form = new FormData();
        form.append("image", photo.blob, photo.name || "photo.jpg");
        data = await api(`api/recommend?${queryString(params)}`, {
          method: "POST",
          body: form,
          signal: controller.signal,
        });
      } else {
        const id = encodeURIComponent(query.id);
        data = await api(`api/items/${id}/similar?${queryString(params)}`, {
          signal: controller.signal,
        });
        showItemPreview(data.query.item);
      }
      if (state.controller !== controller) return;
      if (query.type === "photo") showCrop(data.query.crop);
      renderGrid(els.results, data.results, "li");
      renderResultsNote(data.results);
      const n = data.results.length;
      setStatus(n ? `${plural(n, "lookalike")}${filterSummary()}.` : "");
      const region = data.query.crop ? `; crop ${cropText(data.query.crop)}` : "";
      noteTechnical(
        `Last query: ${n} results in ${Math.round(data.took_ms)} ms; ` +
          `nearest distance ${n ? nearestDistance(data.results).toFixed(3) : "-"}${region}.`
      );
      if (focusResults) focusResultsHeading();
    } catch (err) {
      if (err.name === "AbortError" || state.controller !== controller) return;
      clearResults();
      if (query.type === "photo") {
        clearPreview();
        const subject = photo && photo.name ? `“${photo.name}”` : "This photo";
        showError(els.photoError, humanError(err, subject));
      } else {
        clearPreview();
        showError(els.error, humanError(err, "This item"));
      }
    } finally {
      if (state.controller === controller) {
        state.controller = null;
        els.results.setAttribute("aria-busy", "false");
        els.results.classList.remove("is-loading");
      }
    }
  }

  /** An honest word above the results: none match, or none is really close. */
  /** The smallest distance in a list (a photo's list is ranked by its expanded query). */
  function nearestDistance(results) {
    return Math.min(...results.map((r) => r.distance));
  }

  function renderResultsNote(results) {
    let text = "";
    if (!results.length) {
      text = Object.keys(state.filters).length
        ? "No catalog items match these filters. Remove a filter to see more."
        : "The catalog has no other items yet.";
    } else if (results.every((r) => r.match === "distant")) {
      // (A photo's list is ranked by its expanded query: the nearest need not come first.)
      text =
        "Nothing in the catalog looks very close to this. These are the nearest items we have.";
    }
    els.resultsNote.textContent = text;
    els.resultsNote.hidden = !text;
  }

  /** Focus the results heading for screen readers without hiding the photo on phones. */
  function focusResultsHeading() {
    els.resultsHeading.focus({ preventScroll: true });
    const box = els.resultsHeading.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      const anchor = els.preview.hidden ? els.resultsSection : els.preview;
      anchor.scrollIntoView({ block: "start" });
    }
  }

  function showPhotoPreview(photo, key) {
    clearPreview();
    state.previewKey = key;
    // The crop controls come with the photo (no layout shift when the box appears).
    els.preview.classList.add("is-cropping");
    els.cropControls.hidden = false;
    els.cropReset.disabled = true;
    els.previewImage.src = URL.createObjectURL(photo.blob);
    els.previewImage.alt = "Your photo";
    els.previewCaption.textContent = photo.name ? `Your photo: ${photo.name}` : "Your photo";
    els.preview.hidden = false;
    els.resultsHeading.textContent = "Lookalikes of your photo";
  }

  function showItemPreview(item) {
    clearPreview();
    els.previewImage.src = item.thumbnail_url;
    els.previewImage.alt = title(item);
    els.previewCaption.textContent = [title(item), subtitle(item)].filter(Boolean).join(" · ");
    // Every photo of a product with several, each a link to the full-size image.
    const photos = item.photos || [];
    els.previewPhotos.replaceChildren(
      ...photos.map((photo) => {
        const li = document.createElement("li");
        const link = document.createElement("a");
        link.href = photo.image_url;
        link.target = "_blank";
        link.rel = "noopener";
        const img = document.createElement("img");
        img.src = photo.thumbnail_url;
        img.alt = `Photo ${photo.number} of ${photos.length}`;
        img.width = 64;
        img.height = 64;
        link.append(img);
        li.append(link);
        return li;
      })
    );
    els.previewPhotos.hidden = photos.length < 2;
    els.preview.hidden = false;
    els.resultsHeading.textContent = `Lookalikes of ${title(item)}`;
  }

  /** Show the lookalikes of a catalog item (a new history entry). */
  function selectItem(id) {
    const current = state.query;
    if (current && current.type === "item" && current.id === id) {
      runQuery({ focusResults: true });
      return;
    }
    navigate({ query: { type: "item", id } });
  }

  // --- the crop box: the part of an uploaded photo the results match ----------------------
  function clamp(value, low, high) {
    return Math.min(Math.max(value, low), high);
  }

  /** A crop in whole thousandths that stays inside the photo (what the address carries). */
  function roundCrop([x, y, w, h]) {
    const left = clamp(Math.round(x * 1000), 0, 999);
    const top = clamp(Math.round(y * 1000), 0, 999);
    const width = clamp(Math.round(w * 1000), 1, 1000 - left);
    const height = clamp(Math.round(h * 1000), 1, 1000 - top);
    return [left / 1000, top / 1000, width / 1000, height / 1000];
  }

  function cropText(crop) {
    return roundCrop(crop).join(",");
  }

  /** "x,y,w,h" from an address, or null when the API would refuse it. */
  function parseCrop(text) {
    if (!text) return null;
    const parts = text.split(",").map((part) => (part.trim() ? Number(part) : NaN));
    if (parts.length !== 4 || !parts.every(Number.isFinite)) return null;
    const [x, y, w, h] = parts;
    const inside = x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 1 + 1e-6 && y + h <= 1 + 1e-6;
    return inside ? roundCrop(parts) : null;
  }

  function sameCrop(a, b) {
    return cropText(a) === cropText(b);
  }

  /** The box's position and size in words (its aria-valuetext). */
  function cropWords(crop) {
    if (sameCrop(crop, WHOLE_PHOTO)) return "Whole photo";
    const [x, y, w, h] = crop.map((v) => `${Math.round(v * 100)}%`);
    return `${w} wide, ${h} high, ${x} from the left, ${y} from the top`;
  }

  function drawCrop(crop) {
    state.cropShown = crop;
    const [x, y, w, h] = crop;
    const box = els.cropBox;
    // Percentages of the frame, which is exactly the photo: the box follows any resize.
    box.style.left = `${x * 100}%`;
    box.style.top = `${y * 100}%`;
    box.style.width = `${w * 100}%`;
    box.style.height = `${h * 100}%`;
    box.setAttribute("aria-valuenow", String(Math.round(w * h * 100)));
    box.setAttribute("aria-valuetext", cropWords(crop));
  }

  /** After a photo's results: the box shows the crop they answer (null: the whole photo). */
  function showCrop(crop) {
    state.cropAnswered = crop ? roundCrop(crop) : null;
    // A change the shopper is still making wins over an older answer.
    if (state.cropDrag || state.cropTimer) return;
    drawCrop(state.cropAnswered || WHOLE_PHOTO);
    els.cropBox.hidden = false;
    els.cropReset.disabled = sameCrop(state.cropShown, WHOLE_PHOTO);
  }

  function hideCrop() {
    clearTimeout(state.cropTimer);
    state.cropTimer = 0;
    state.cropDrag = null;
    state.cropShown = null;
    state.cropAnswered = null;
    els.cropBox.hidden = true;
    els.cropControls.hidden = true;
    els.cropFrame.classList.remove("is-dragging");
    els.cropFrame.style.cursor = "";
    els.preview.classList.remove("is-cropping");
  }

  /** Search again with the box's crop, unless the results already answer it. */
  function commitCrop() {
    clearTimeout(state.cropTimer);
    state.cropTimer = 0;
    const query = state.query;
    if (!query || query.type !== "photo" || !state.cropShown) return;
    const crop = roundCrop(state.cropShown);
    drawCrop(crop);
    els.cropReset.disabled = sameCrop(crop, WHOLE_PHOTO);
    const current = query.crop || state.cropAnswered || WHOLE_PHOTO;
    if (sameCrop(crop, current)) return;
    // The same history entry: Back goes to the previous search, not the previous box.
    navigate({ query: { ...query, crop } }, { replace: true, focusResults: false });
  }

  function commitCropSoon(wait) {
    clearTimeout(state.cropTimer);
    state.cropTimer = setTimeout(commitCrop, wait);
  }

  /** The crop moved by (dx, dy), or with the `edges` named dragged by it; inside the photo
   * and never smaller than CROP_MIN a side (a smaller one from an address may only grow). */
  function draggedCrop([x, y, w, h], edges, dx, dy) {
    if (!edges.left && !edges.right && !edges.top && !edges.bottom) {
      return [clamp(x + dx, 0, 1 - w), clamp(y + dy, 0, 1 - h), w, h];
    }
    let [left, top, right, bottom] = [x, y, x + w, y + h];
    if (edges.left) left = clamp(x + dx, 0, Math.max(right - CROP_MIN, x));
    if (edges.right) right = clamp(x + w + dx, Math.min(left + CROP_MIN, x + w), 1);
    if (edges.top) top = clamp(y + dy, 0, Math.max(bottom - CROP_MIN, y));
    if (edges.bottom) bottom = clamp(y + h + dy, Math.min(top + CROP_MIN, y + h), 1);
    return [left, top, right - left, bottom - top];
  }

  /** The crop dw wider and dh higher, its top-left corner kept unless the photo ends. */
  function resizedCrop([x, y, w, h], dw, dh) {
    const width = clamp(w + dw, Math.min(w, CROP_MIN), 1);
    const height = clamp(h + dh, Math.min(h, CROP_MIN), 1);
    return [Math.min(x, 1 - width), Math.min(y, 1 - height), width, height];
  }

  /** Which edges a pointer at (clientX, clientY) would drag ({} = move the box), or null
   * when it is away from the box. Edges take a band of `grab` px, at most a third of the
   * box, so a small box can still be moved. */
  function cropGrip(event) {
    const frame = els.cropFrame.getBoundingClientRect();
    const [x, y, w, h] = state.cropShown;
    const left = frame.left + x * frame.width;
    const right = left + w * frame.width;
    const top = frame.top + y * frame.height;
    const bottom = top + h * frame.height;
    const grab = event.pointerType === "mouse" ? 12 : 22; // fingers are less precise
    const px = event.clientX;
    const py = event.clientY;
    if (px < left - grab || px > right + grab || py < top - grab || py > bottom + grab) return null;
    const bandX = Math.min(grab, (right - left) / 3);
    const bandY = Math.min(grab, (bottom - top) / 3);
    return {
      left: px < left + bandX,
      right: px > right - bandX,
      top: py < top + bandY,
      bottom: py > bottom - bandY,
    };
  }

  function gripCursor(grip) {
    if (!grip) return "";
    const { left, right, top, bottom } = grip;
    if ((left && top) || (right && bottom)) return "nwse-resize";
    if ((right && top) || (left && bottom)) return "nesw-resize";
    if (left || right) return "ew-resize";
    if (top || bottom) return "ns-resize";
    return "move";
  }

  function onCropPointerDown(event) {
    if (els.cropBox.hidden || !state.cropShown || state.cropDrag || event.button !== 0) return;
    const grip = cropGrip(event);
    if (!grip) return;
    event.preventDefault(); // no text selection, image drag or scrolling
    clearTimeout(state.cropTimer);
    state.cropTimer = 0;
    const frame = els.cropFrame.getBoundingClientRect();
    state.cropDrag = {
      id: event.pointerId,
      grip,
      start: state.cropShown,
      x: event.clientX,
      y: event.clientY,
      width: frame.width,
      height: frame.height,
    };
    els.cropFrame.setPointerCapture(event.pointerId);
    els.cropFrame.classList.add("is-dragging");
    els.cropFrame.style.cursor = gripCursor(grip);
    // The keys go on from here; no focus ring for a pointer (browsers without the option
    // show one, which does no harm).
    els.cropBox.focus({ preventScroll: true, focusVisible: false });
  }

  function onCropPointerMove(event) {
    const drag = state.cropDrag;
    if (!drag) {
      if (event.pointerType === "mouse" && state.cropShown && !els.cropBox.hidden) {
        els.cropFrame.style.cursor = gripCursor(cropGrip(event));
      }
      return;
    }
    if (event.pointerId !== drag.id) return;
    const dx = (event.clientX - drag.x) / drag.width;
    const dy = (event.clientY - drag.y) / drag.height;
    drawCrop(draggedCrop(drag.start, drag.grip, dx, dy));
  }

  function onCropPointerEnd(event) {
    const drag = state.cropDrag;
    if (!drag || event.pointerId !== drag.id) return;
    state.cropDrag = null;
    els.cropFrame.classList.remove("is-dragging");
    commitCropSoon(CROP_DRAG_WAIT);
  }

  /** Arrow keys move the box, Shift+arrow keys resize it (results follow the last key's
   * release); Escape cancels a drag. */
  function onCropKeyDown(event) {
    const drag = state.cropDrag;
    if (event.key === "Escape" && drag) {
      // Escape during a drag puts the box back where the drag began.
      state.cropDrag = null;
      els.cropFrame.classList.remove("is-dragging");
      if (els.cropFrame.hasPointerCapture(drag.id)) els.cropFrame.releasePointerCapture(drag.id);
      drawCrop(drag.start);
      return;
    }
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!(event.key in steps) || event.altKey || event.ctrlKey || event.metaKey) return;
    if (!state.cropShown || state.cropDrag) return;
    event.preventDefault(); // no page scrolling
    clearTimeout(state.cropTimer);
    state.cropTimer = 0;
    const [dx, dy] = steps[event.key].map((v) => v * CROP_STEP);
    drawCrop(
      event.shiftKey
        ? resizedCrop(state.cropShown, dx, dy)
        : draggedCrop(state.cropShown, {}, dx, dy)
    );
  }

  function onCropKeyUp(event) {
    if (event.key.startsWith("Arrow") && !state.cropDrag) commitCropSoon(CROP_KEY_WAIT);
  }

  function resetCrop() {
    if (!state.cropShown) return;
    els.cropBox.focus(); // the button is disabled next: keep the keyboard here
    drawCrop(WHOLE_PHOTO);
    commitCrop();
  }

  function wireCrop() {
    els.cropFrame.addEventListener("pointerdown", onCropPointerDown);
    els.cropFrame.addEventListener("pointermove", onCropPointerMove);
    els.cropFrame.addEventListener("pointerup", onCropPointerEnd);
    els.cropFrame.addEventListener("pointercancel", onCropPointerEnd);
    els.cropFrame.addEventListener("lostpointercapture", onCropPointerEnd);
    els.cropFrame.addEventListener("pointerleave", () => {
      if (!state.cropDrag) els.cropFrame.style.cursor = "";
    });
    els.cropBox.addEventListener("keydown", onCropKeyDown);
    els.cropBox.addEventListener("keyup", onCropKeyUp);
    els.cropReset.addEventListener("click", resetCrop);
  }

  // --- photos: shrink in the browser, keep a small copy for the address --------------------
  function megabytes(bytes) {
    return `${(bytes / 2 ** 20).toFixed(1).replace(/\.0$/, "")} MB`;
  }

  async function decodePhoto(file) {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (_) {
      return null; // not an image this browser can read (the server may still say why)
    }
  }

  function drawScaled(bitmap, side) {
    const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; // transparent pixels become white, as on catalog photos
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return canvas;
  }

  function canvasBlob(canvas, quality) {
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }

  /** The photo to upload: a JPEG of at most UPLOAD_SIDE px that fits the server's limit. */
  async function shrinkForUpload(file, bitmap) {
    const limit = state.maxUploadBytes || Infinity;
    const small = Math.max(bitmap.width, bitmap.height) <= UPLOAD_SIDE;
    if (small && file.size <= Math.min(limit, 2 ** 21) && /^image\/(jpeg|png|webp)$/.test(file.type)) {
      return file; // already small: send it as it is
    }
    for (const [side, quality] of [
      [UPLOAD_SIDE, 0.88],
      [UPLOAD_SIDE, 0.75],
      [1200, 0.75],
      [800, 0.7],
    ]) {
      const blob = await canvasBlob(drawScaled(bitmap, side), quality);
      if (blob && blob.size <= limit) return blob;
    }
    return null;
  }

  /** A small JPEG of the photo as base64url, carried in the address so the search can be shared. */
  function shareCopy(bitmap) {
    const data = drawScaled(bitmap, SHARE_SIDE).toDataURL("image/jpeg", 0.8);
    return data.replace(/^data:image\/jpeg;base64,/, "").replace(/\+/g, "-").replace(/\//g, "_");
  }

  function dataToBlob(key) {
    try {
      const bytes = atob(key.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, ""));
      const array = new Uint8Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) array[i] = bytes.charCodeAt(i);
      if (array.length < 4 || array[0] !== 0xff || array[1] !== 0xd8) return null; // not a JPEG
      return new Blob([array], { type: "image/jpeg" });
    } catch (_) {
      return null;
    }
  }

  let localPhotos = 0;

  async function useFile(file) {
    if (!file) return;
    clearErrors();
    const name = file.name || "";
    const subject = name ? `“${name}”` : "This photo";
    setStatus("Preparing your photo…", true);
    const bitmap = await decodePhoto(file);
    let blob = file;
    let key;
    if (bitmap) {
      blob = await shrinkForUpload(file, bitmap);
      key = shareCopy(bitmap);
      bitmap.close();
    } else {
      // The browser cannot read it: let the server judge, under a key for this visit only.
      localPhotos += 1;
      key = `local-${localPhotos}`;
    }
    if (!blob || (!bitmap && state.maxUploadBytes && file.size > state.maxUploadBytes)) {
      setStatus("");
      clearResults();
      clearPreview();
      const limit = state.maxUploadBytes ? megabytes(state.maxUploadBytes) : "the limit";
      showError(
        els.photoError,
        `${subject} is too large (${megabytes(file.size)}) and this browser can't shrink it. ` +
          `Try a JPEG or PNG photo under ${limit}.`
      );
      return;
    }
    state.photos.set(key, { blob, name });
    navigate({ query: { type: "photo", key } });
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
      els.samplesNote.hidden = data.items.length > 0;
      els.samplesNote.textContent = data.items.length
        ? ""
        : "No catalog items match these filters. Remove a filter to see more.";
    } catch (err) {
      showError(els.error, `We couldn't load catalog items. ${humanError(err, "")}`);
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

  function columnLabel(column) {
    return column.replace(/([a-z])([A-Z])/g, "$1 $2");
  }

  function renderFacets() {
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
  function renderActiveFilters() {
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

  async function loadFacets() {
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

  // --- the filters sheet (phones) ----------------------------------------------------------
  const phoneLayout = window.matchMedia("(max-width: 899px)");

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

  function onPopState() {
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

  // --- catalog info and the retailer's details ---------------------------------------------
  async function loadCatalogInfo() {
    try {
      const info = await api("healthz");
      state.health = info;
      state.maxUploadBytes = info.max_upload_bytes || null;
      els.catalogInfo.textContent = `${info.items.toLocaleString()} catalog items`;
      els.detailsCatalog.textContent =
        `Encoder ${info.encoder} · bundle ${info.bundle_version} · uploads up to ` +
        `${megabytes(info.max_upload_bytes)} (photos are shrunk to ${UPLOAD_SIDE} px first).`;
    } catch (_) {
      els.catalogInfo.textContent = "";
    }
  }

  function toggleDetails() {
    const on = els.details.hidden;
    els.details.hidden = !on;
    document.body.classList.toggle("show-details", on);
    els.detailsToggle.setAttribute("aria-pressed", String(on));
  }

  async function shareSearch() {
    const url = location.href;
    try {
      if (navigator.share && window.matchMedia("(pointer: coarse)").matches) {
        await navigator.share({ title: document.title, url });
        return;
      }
      await navigator.clipboard.writeText(url);
      setStatus("Link copied. Anyone with the link sees this search, including your photo.");
    } catch (err) {
      if (err && err.name === "AbortError") return;
      setStatus("Copy the address from the address bar to share this search.");
    }
  }

  // --- wiring ----------------------------------------------------------------------------
  function wire() {
    // The skip link moves focus without touching the address (which holds the search).
    document.querySelector(".skip-link").addEventListener("click", (e) => {
      e.preventDefault();
      const target = $("results-start");
      target.focus({ preventScroll: true });
      target.scrollIntoView({ block: "start" });
    });
    els.uploadButton.addEventListener("click", () => els.fileInput.click());
    els.cameraButton.addEventListener("click", () => els.cameraInput.click());
    for (const input of [els.fileInput, els.cameraInput]) {
      input.addEventListener("change", () => {
        const file = input.files[0];
        input.value = ""; // choosing the same file again still fires "change"
        useFile(file);
      });
    }

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
      if (els.previewImage.getAttribute("src")) els.preview.hidden = true;
    });
    els.kSelect.addEventListener("change", () => {
      navigate({ k: Number.parseInt(els.kSelect.value, 10) }, { replace: true, focusResults: false });
    });
    els.clearFilters.addEventListener("click", () => {
      setFilters({});
      (phoneLayout.matches ? els.filtersHeading : els.uploadButton).focus();
    });
    els.facets.addEventListener("keydown", onFacetKey);
    els.openFilters.addEventListener("click", openDrawer);
    els.closeFilters.addEventListener("click", closeDrawer);
    els.backdrop.addEventListener("click", closeDrawer);
    els.filtersPanel.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && state.drawerOpen) closeDrawer();
    });
    phoneLayout.addEventListener("change", () => {
      if (!phoneLayout.matches && state.drawerOpen) closeDrawer();
    });
    els.shuffle.addEventListener("click", () => {
      state.seed = Math.floor(Math.random() * 1e9);
      loadSamples();
    });
    els.share.addEventListener("click", shareSearch);
    els.forYouLink.addEventListener("click", (e) => {
      e.preventDefault();
      navigate({ query: { type: "for-you" } });
    });
    els.detailsToggle.addEventListener("click", toggleDetails);
    wireCrop();
    for (const list of [els.results, els.forYouResults, els.samples]) wireGrid(list);
    window.addEventListener("popstate", onPopState);
    window.addEventListener("hashchange", () => applyHash({ focusResults: true }));
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
  loadCatalogInfo();
  state.filtersKey = null; // the first applyHash loads facets, samples and "For you"
  applyHash({ focusResults: false });
})();
