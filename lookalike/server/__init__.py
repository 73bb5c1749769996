"""The HTTP API and web page over a bundle (FastAPI): ``app.create_app`` wires ``state``
(the served catalog and its live reloading), ``deps`` (what routes get through
``Depends``), ``schemas``, ``routes/`` (one router per area), ``errors``, ``uploads``,
``thumbnails`` and ``middleware``; ``testing`` starts a real ``lookalike serve``."""
