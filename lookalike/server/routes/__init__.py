"""The API's routes, one ``APIRouter`` per area, included by ``create_app`` in this order::

    recommend   POST /api/recommend, GET /api/items/{id}/similar
    profile     POST /api/recommend/profile
    items       GET /api/items, /api/items/{id}, .../image, .../thumbnail, /api/facets
    admin       POST /api/items, DELETE /api/items/{id} (API key)
    events      POST /api/events (API key): append to the event log
    pages       GET /healthz, GET / (the web page)

Routes get what they share (the served catalog, limits, the key check) from ``deps.py``.
"""
