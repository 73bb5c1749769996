/* The shopper's profile (likes and dislikes) in localStorage: read it, write it. */

import { PROFILE_KEY, PROFILE_MAX } from "./config.js";

/** The saved profile, or an empty one (storage blocked, absent or garbled). */
export function loadProfile() {
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

/** Keep `profile` ({liked, disliked}); an empty one removes the key. */
export function saveProfile(profile) {
  try {
    if (profile.liked.length || profile.disliked.length) {
      localStorage.setItem(PROFILE_KEY, JSON.stringify(profile));
    } else {
      localStorage.removeItem(PROFILE_KEY);
    }
  } catch (_) {
    // Private mode or a full quota: the profile lasts for this page only.
  }
}
