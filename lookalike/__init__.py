"""lookalike: a visual apparel recommender.

Data flows one way: catalog -> images -> encoder -> embeddings -> index -> recommender.
"""

__version__ = "0.1.0"


def load(path):
    """Load a bundle directory and return a ready :class:`lookalike.recommend.Recommender`."""
    from lookalike.recommend import Recommender

    return Recommender.from_bundle(path)


__all__ = ["__version__", "load"]
