/* HTTP: fetch + JSON against the API next to the page, its errors, and shopper words for them. */

import { noteTechnical } from "./messages.js";
import { state } from "./state.js";

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** The query string for `params` plus the active filters (repeated keys per value). */
export function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) search.append(key, String(value));
  for (const [column, values] of Object.entries(state.filters)) {
    for (const value of values) search.append(column, value);
  }
  return search.toString();
}

/** fetch + JSON; non-2xx answers become ApiError with the server's code and detail. */
export async function api(path, options = {}) {
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
export function humanError(err, subject) {
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
