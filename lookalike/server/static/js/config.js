/* The page's fixed settings: counts, sizes, timings, storage keys and shopper words. */

// Columns shown as filter chips, in this order, when the catalog has them; other
// low-cardinality columns follow.
export const PREFERRED_FACETS = ["Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage"];
export const CHIPS_COLLAPSED = 12; // values shown before "Show all" in a long facet
export const SAMPLE_COUNT = 12;
export const FOR_YOU_COUNT = 10;
export const PROFILE_KEY = "lookalike.profile.v1"; // localStorage: {liked: [...], disliked: [...]}
export const PROFILE_MAX = 200; // per list; the oldest feedback goes first
export const UPLOAD_SIDE = 1600; // longest side of the photo sent to the server
export const SHARE_SIDE = 320; // longest side of the copy carried in the address (#photo=)
export const K_CHOICES = [5, 10, 20, 50];
// The crop box: fractions [x, y, w, h] of the photo, as the API's crop= takes them.
export const WHOLE_PHOTO = [0, 0, 1, 1];
export const CROP_MIN = 0.1; // the smallest side, so the box never vanishes under a finger
export const CROP_STEP = 0.02; // one arrow key press
export const CROP_KEY_WAIT = 400; // ms after the last key release before results refresh
export const CROP_DRAG_WAIT = 150; // ms after a drag ends (a second drag right after joins it)
export const TAP_SLOP = 8; // px a pointer may move on a garment's box and still tap it
// Shopper words for the API's "match" field.
export const MATCH_WORDS = {
  same: "Same design",
  close: "Very similar",
  similar: "Similar",
  distant: "Loosely similar",
};
