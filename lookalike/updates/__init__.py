"""Living catalogs: add items to, or remove items from, a built bundle without rebuilding it.

An update never touches the live version. It reads the live version, encodes new images with
that version's own encoder, and writes a complete new version with
:class:`lookalike.bundle.BundleWriter` (unchanged files such as ``encoder/`` are hard-linked,
not copied) which ``commit`` publishes by swapping ``CURRENT`` atomically. A reader (or a
server following ``CURRENT``) therefore sees the old catalog or the new one, never a mix,
and a writer killed at any point leaves the old one intact (plus, at worst, a stale
``versions/.staging-*`` folder or an unpublished version folder, both ignored and pruned
later).

Writers hold the bundle's writer lock (:func:`lookalike.bundle.bundle_lock`) around
read-modify-write, so two updates (CLI, server, or both) never interleave and none is lost.
Added images that duplicate catalog items or each other are reported, never refused
(:mod:`lookalike.dedup` says how they are found).

Test hook: with ``LOOKALIKE_TEST_SLOW_UPDATE`` in the environment, every stage of an update
(``locked``, ``read``, ``decoded``, ``encoded``, ``indexed``, ``written``, then the commit's
``staged``, ``renamed``, ``published``, and ``done``) prints ``lookalike-update-stage: NAME``
on stderr and pauses: ``SECONDS`` pauses that long at every stage, ``NAME=SECONDS`` only at
stage NAME (so a crash test can SIGKILL a writer held exactly there). Unset (always, in
production), it costs one environment lookup per stage.

Products with several photos: ``remove_items`` removes a product with all its photos,
``remove_photos`` single photos of one product, ``add_photos`` adds photos to a product (or
a new product with several photos); ``add_items --replace`` replaces a product (all its
photos) with a one-photo one.

The commands are ``lookalike add`` and ``lookalike remove`` (:mod:`lookalike.cli.update`).
Modules: ``add`` and ``remove`` (the two updates), ``new_images`` (what an add brings: its
inputs, decoded and encoded, hashed, uploads stored), ``report`` (what an update did),
``versions`` (the steps both share: test hook, index, writing and publishing the new version,
garbage collection); which ids are acceptable is :mod:`lookalike.ids`. Every public name is
importable from here.
"""

from lookalike.bundle import (
    BUILD_REPORT,
    IMAGES_DIR,
    LOCK_FILE,
    LOCK_TIMEOUT,
    BundleBusyError,
    UpdateError,
    bundle_lock,
)
from lookalike.dedup import (
    AHASH_FACTOR,
    NEAR_FRACTION,
    NEAR_HAMMING,
    NEAR_NEIGHBOURS,
    NEIGHBOUR_SAMPLE,
    Duplicate,
    find_duplicates,
    typical_neighbour_distance,
)
from lookalike.ids import MAX_ID_LENGTH, check_item_id, normalize_item_id
from lookalike.updates.add import add_items, add_new_items, add_photos
from lookalike.updates.remove import remove_items, remove_photos
from lookalike.updates.report import NewItem, Skipped, UpdateReport
from lookalike.updates.versions import SLOW_ENV, UPDATE_REPORT

# The lock, the errors and duplicate detection live in lookalike.bundle and lookalike.dedup;
# their names stay importable from here (tests/test_public_api.py pins them).
__all__ = [
    "AHASH_FACTOR",
    "BUILD_REPORT",
    "IMAGES_DIR",
    "LOCK_FILE",
    "LOCK_TIMEOUT",
    "MAX_ID_LENGTH",
    "NEAR_FRACTION",
    "NEAR_HAMMING",
    "NEAR_NEIGHBOURS",
    "NEIGHBOUR_SAMPLE",
    "SLOW_ENV",
    "UPDATE_REPORT",
    "BundleBusyError",
    "Duplicate",
    "NewItem",
    "Skipped",
    "UpdateError",
    "UpdateReport",
    "add_items",
    "add_new_items",
    "add_photos",
    "bundle_lock",
    "check_item_id",
    "find_duplicates",
    "normalize_item_id",
    "remove_items",
    "remove_photos",
    "typical_neighbour_distance",
]
