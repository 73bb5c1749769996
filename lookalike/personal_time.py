"""Personal picks measured on time (``lookalike evaluate-personal --interactions LOG
--cutoff DATE``): the events before the cutoff are the history, the purchases in the window
after it the truth, scored as in the H&M personalised fashion recommendations competition.

Every customer who bought something in the window is scored (those with no history too:
only popularity can answer them). Each method returns 12 items: best-sellers of the last 7
days, buy again, each candidate source of :mod:`lookalike.personal_sources` alone, and a fixed
blend of them (weighted reciprocal-rank fusion, :data:`DEFAULT_BLEND`) and the learned
blend (:mod:`lookalike.personal_ranker`). Results are split by
history length (fewer than :data:`SHORT_HISTORY` events before the cutoff, or more).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lookalike.evaluation import hit_rate_at_k, map_at_12, recall_at_k
from lookalike.events import SECONDS_PER_DAY, EventLog, select_events
from lookalike.personal_candidates import SourceContext, candidate_pool, head_of_sources
from lookalike.personal_fit import OBJECTIVE
from lookalike.personal_ranker import DEFAULT_BLEND as DEFAULT_BLEND  # re-exported
from lookalike.personal_ranker import (
    POOL,
    fixed_blend,
    learned_picks,
    train_ranker,
)
from lookalike.personal_sources import Candidates, Search, new_item_rows

K = 12
#: Customers with fewer events than this before the cutoff have a "short" history.
SHORT_HISTORY = 5


@dataclass
class TimeSplit:
    """A log cut at ``cutoff``.

    Attributes:
        history: the events before the cutoff (all shoppers' rows kept).
        cutoff: seconds since the epoch.
        customers: shopper rows with a purchase in the window.
        truth: per customer, the distinct items bought in the window.
        history_events: per customer, events before the cutoff.
    """

    history: EventLog
    cutoff: int
    customers: np.ndarray
    truth: list[np.ndarray]
    history_events: np.ndarray


def split_on_time(log: EventLog, cutoff: int, window: int, event: str = "purchase") -> TimeSplit:
    """History before ``cutoff``; truth = ``event``s in [cutoff, cutoff + window).

    Args:
        log: the whole log (with timestamps).
        cutoff: seconds since the epoch.
        window: seconds.
        event: what counts as a purchase.
    """
    if not log.has_time:
        raise ValueError("evaluating on time needs a timestamp column in the log")
    history = select_events(log, log.times < cutoff)
    in_window = (
        (log.times >= cutoff)
        & (log.times < cutoff + window)
        & (log.events == log.event_code(event))
    )
    users = log.user_of_event[in_window]
    items = log.items[in_window]
    pairs = np.unique(users.astype(np.int64) * log.n_items + items)
    customers, starts = np.unique(pairs // log.n_items, return_index=True)
    truth = np.split((pairs % log.n_items).astype(np.int64), starts[1:])
    if len(customers) == 0:
        truth = []
    return TimeSplit(history, cutoff, customers, truth, np.diff(history.indptr)[customers])


def method_lists(
    split: TimeSplit,
    *,
    search: Search | None = None,
    titles: Sequence[str] | None = None,
    segments: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
    colours: np.ndarray | None = None,
    weights: dict[str, float] | None = None,
    k: int = K,
    learned: bool = True,
    train_window: int = 28 * SECONDS_PER_DAY,
    objective: str = OBJECTIVE,
    progress: Callable | None = None,
    pools: list[np.ndarray] | None = None,
) -> dict[str, list[Candidates]]:
    """Every method's 12 picks for every customer of ``split``.

    Args:
        split: from :func:`split_on_time`.
        search: a visual search (None: the visual sources are left out).
        titles: item titles, for the reasons.
        segments: a segment label per item (trending in the shopper's own segment).
        embeddings: item embeddings (the learned blend's visual distances).
        colours: a second label per item (new arrivals by segment x colour).
        weights: the fixed blend's weights (default DEFAULT_BLEND).
        k: picks per customer.
        learned: add the learned blend (:mod:`lookalike.personal_ranker`), trained on the
            history before the cutoff; a log too small for it gets the fixed blend.
        train_window: the learned blend's label window (the evaluated window).
        objective: the learned blend's model (:func:`~lookalike.personal_fit.fit_ranker`:
            "listwise", "pointwise", "pairwise" or "trees").
        progress: wraps the customer loop (e.g. tqdm), or None.
        pools: if given, each customer's candidate pool (what the learned blend ranks) is
            appended to it.

    Returns:
        method name -> one Candidates per customer.
    """
    history, now = split.history, split.cutoff
    options = {
        "search": search,
        "titles": titles,
        "segments": segments,
        "embeddings": embeddings,
        "colours": colours,
    }
    context = SourceContext.build(history, now, **options)
    ranker = (
        train_ranker(history, now, train_window, objective=objective, **options)
        if learned
        else None
    )
    lists: dict[str, list[Candidates]] = {}
    customers = progress(split.customers) if progress else split.customers
    for user in customers:
        pool = context.sources(int(user), POOL if learned else k)
        sources = head_of_sources(pool, k)
        sources["blend"] = fixed_blend(pool, k, weights)
        if pools is not None:
            pools.append(candidate_pool(pool)[0])
        if learned:
            sources["learned blend"] = learned_picks(context, int(user), ranker, k, sources=pool)
        for name, found in sources.items():
            lists.setdefault(name, []).append(found)
    return lists


def score_method(picks: list[Candidates], truth: list[np.ndarray], k: int = K) -> dict:
    """MAP@12, HR@12 and recall@12 of one method's picks (one per customer)."""
    relevant = np.zeros((len(truth), k), bool)
    for i, (found, bought) in enumerate(zip(picks, truth, strict=True)):
        relevant[i, : len(found.rows[:k])] = np.isin(found.rows[:k], bought)
    n_relevant = np.array([len(t) for t in truth])
    return {
        "map@12": map_at_12(relevant, n_relevant),
        "hr@12": hit_rate_at_k(relevant, k),
        "recall@12": recall_at_k(relevant, n_relevant, k),
        "customers": len(truth),
    }


def evaluate_on_time(
    log: EventLog,
    cutoff: int,
    window: int = 28 * SECONDS_PER_DAY,
    *,
    short_history: int = SHORT_HISTORY,
    **options,
) -> dict:
    """Score every method on the customers who bought in the window after ``cutoff``.

    Args:
        log: the whole log.
        cutoff, window: seconds.
        short_history: fewer events than this before the cutoff = a short history.
        options: passed to :func:`method_lists` (search, titles, segments, weights, progress).

    Returns:
        {"customers", "short", "long", "new_item_share", "pool_coverage": distinct
        (customer, article) purchases in the window, those in the customer's candidate pool,
        the same for articles nobody had bought before the cutoff, the mean pool size;
        "results": {method: {"all", "short", "long"}: metrics}}.
    """
    split = split_on_time(log, cutoff, window)
    if len(split.customers) == 0:
        raise ValueError("nobody bought anything in the window after the cutoff")
    options.setdefault("train_window", window)
    pools: list[np.ndarray] = []
    lists = method_lists(split, pools=pools, **options)
    short = split.history_events < short_history
    groups = {"all": np.ones(len(short), bool), "short": short, "long": ~short}
    results = {}
    for name, picks in lists.items():
        results[name] = {
            group: score_method(
                [p for p, m in zip(picks, mask, strict=True) if m],
                [t for t, m in zip(split.truth, mask, strict=True) if m],
            )
            for group, mask in groups.items()
        }
    bought_after = np.unique(np.concatenate(split.truth))
    new_rows = new_item_rows(split.history, cutoff)
    new = np.isin(bought_after, new_rows)
    in_pool = [np.isin(t, p) for t, p in zip(split.truth, pools, strict=True)]
    is_new = [np.isin(t, new_rows) for t in split.truth]
    coverage = {
        "purchases": int(sum(len(t) for t in split.truth)),
        "in_pool": int(sum(h.sum() for h in in_pool)),
        "new_purchases": int(sum(n.sum() for n in is_new)),
        "new_in_pool": int(sum((h & n).sum() for h, n in zip(in_pool, is_new, strict=True))),
        "pool_size": float(np.mean([len(p) for p in pools])),
    }
    return {
        "customers": int(len(split.customers)),
        "short": int(short.sum()),
        "long": int((~short).sum()),
        "new_item_share": float(new.mean()),
        "pool_coverage": coverage,
        "results": results,
    }


def format_time_table(evaluation: dict) -> str:
    """The results as a markdown table (all customers, then short / long histories)."""
    lines = [
        f"{evaluation['customers']} customers scored ({evaluation['short']} with fewer than "
        f"{SHORT_HISTORY} events before the cutoff, {evaluation['long']} more); "
        f"{evaluation['new_item_share']:.0%} of the articles bought after the cutoff had no "
        "event before it.",
        "",
        "| picks | MAP@12 | HR@12 | recall@12 | MAP@12 short | HR@12 short "
        "| MAP@12 long | HR@12 long |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, groups in evaluation["results"].items():
        a, s, long_ = groups["all"], groups["short"], groups["long"]
        lines.append(
            f"| {name} | {a['map@12']:.4f} | {a['hr@12']:.3f} | {a['recall@12']:.3f} "
            f"| {s['map@12']:.4f} | {s['hr@12']:.3f} | {long_['map@12']:.4f} "
            f"| {long_['hr@12']:.3f} |"
        )
    return "\n".join(lines).replace("| nan", "| -")
