"""End-to-end: likes, dislikes and the "For you" picks in headless Chromium.

Runs ``lookalike serve`` over the tiny bundle like ``test_browser.py`` (same helpers, same
Debian Chromium; skipped without it). Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import ARTIFACTS, open_page, phone_context, running_server, screenshot

pytestmark = pytest.mark.browser

PROFILE_KEY = "lookalike.profile.v1"


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    """``lookalike serve`` over the tiny bundle; yields its base URL."""
    with running_server(tiny_bundle, tmp_path_factory.mktemp("profile-server")) as url:
        yield url


@pytest.fixture
def page(browser, server):
    """A fresh browser context (empty localStorage) on the landing page."""
    with open_page(
        browser, f"{server}/?seed=1", "#samples [data-item-id] [data-action='like']"
    ) as page:
        yield page


def for_you_ids(page) -> list[str]:
    return page.eval_on_selector_all(
        "#for-you [data-item-id]", "els => els.map(e => e.dataset.itemId)"
    )


def wait_for_new_picks(page, previous: list[str]) -> list[str]:
    """Wait until "For you" has finished loading a list other than ``previous``."""
    page.wait_for_function(
        """prev => {
            const list = document.getElementById('for-you-results');
            if (list.getAttribute('aria-busy') !== 'false') return false;
            const ids = [...list.querySelectorAll('[data-item-id]')].map(e => e.dataset.itemId);
            return ids.length > 0 && JSON.stringify(ids) !== JSON.stringify(prev);
        }""",
        arg=previous,
    )
    return for_you_ids(page)


def saved_profile(page) -> dict | None:
    return page.evaluate(f"JSON.parse(localStorage.getItem('{PROFILE_KEY}'))")


def pressed(page, grid: str, item_id: str, action: str) -> str | None:
    return page.get_attribute(
        f'{grid} [data-item-id="{item_id}"] [data-action="{action}"]', "aria-pressed"
    )


def test_likes_drive_for_you(page, server):
    assert page.is_hidden("#for-you")
    assert saved_profile(page) is None
    samples = page.eval_on_selector_all(
        "#samples [data-item-id]", "els => els.map(e => e.dataset.itemId)"
    )
    first = samples[0]
    assert pressed(page, "#samples", first, "like") == "false"

    # 1. Like a sample card from the keyboard: "For you" appears, without that item.
    page.focus(f'#samples [data-item-id="{first}"] [data-action="like"]')
    page.keyboard.press("Space")
    picks = wait_for_new_picks(page, [])
    assert page.is_visible("#for-you")
    assert pressed(page, "#samples", first, "like") == "true"
    assert len(picks) == 10 and first not in picks
    chips = page.eval_on_selector_all(
        "#profile-chips [data-profile-id]", "els => els.map(e => e.dataset.profileId)"
    )
    assert chips == [first]
    assert "from your 1 like" in page.text_content("#for-you-status")
    # Picks blend several likes: no distances (nor closeness words) on them.
    assert "distance" not in page.inner_text("#for-you-results")
    assert page.eval_on_selector_all("#for-you-results .card-cue", "els => els.length") == 0
    # Each pick says why, in one phrase: here the liked item it looks like.
    reasons = page.eval_on_selector_all(
        "#for-you-results .card-reason", "els => els.map(e => e.textContent)"
    )
    assert len(reasons) == 10 and all(r.startswith("looks like ") for r in reasons)

    # 2. Like the top pick: the list changes and holds neither liked item.
    second = picks[0]
    page.click(f'#for-you [data-item-id="{second}"] [data-action="like"]')
    new_picks = wait_for_new_picks(page, picks)
    assert new_picks != picks
    assert not {first, second} & set(new_picks)
    assert [e["id"] for e in saved_profile(page)["liked"]] == [first, second]
    screenshot(page, "browser-for-you.png")

    # 3. The profile survives a reload (localStorage) and gives the same picks.
    page.reload()
    page.wait_for_selector("#samples [data-item-id]")
    assert wait_for_new_picks(page, []) == new_picks
    assert page.eval_on_selector_all("#profile-chips li", "els => els.length") == 2

    # 4. "Not for me" on a pick drops it; it shows as a dislike chip.
    gone = new_picks[1]
    page.click(f'#for-you [data-item-id="{gone}"] [data-action="dislike"]')
    after = wait_for_new_picks(page, new_picks)
    assert not {first, second, gone} & set(after)
    assert page.get_attribute(f'#profile-chips [data-profile-id="{gone}"]', "data-feedback") == (
        "dislike"
    )

    # 5. Liking again takes the like back (toggle); clearing empties everything.
    page.click(f'#samples [data-item-id="{first}"] [data-action="like"]')
    page.wait_for_function(
        'id => !document.querySelector(`#profile-chips [data-profile-id="${id}"]`)', arg=first
    )
    assert pressed(page, "#samples", first, "like") == "false"
    page.click("#clear-profile")
    page.wait_for_selector("#for-you", state="hidden")
    assert saved_profile(page) is None
    assert page.eval_on_selector_all("[aria-pressed='true'].feedback", "els => els.length") == 0


def test_for_you_follows_filters(page):
    first = page.get_attribute("#samples [data-item-id]", "data-item-id")
    page.click(f'#samples [data-item-id="{first}"] [data-action="like"]')
    picks = wait_for_new_picks(page, [])
    page.click('#facets .chip[data-column="Colour"][data-value="Blue"]')
    blue = wait_for_new_picks(page, picks)
    assert "(Blue)" in page.text_content("#for-you-status")
    assert first not in blue and 1 <= len(blue) <= 6
    for item_id in blue:
        colour = page.evaluate(
            "async id => (await (await fetch(`api/items/${id}`)).json()).metadata.Colour",
            item_id,
        )
        assert colour == "Blue"


def test_for_you_at_phone_width(browser, server):
    context = phone_context(browser)
    page = context.new_page()
    try:
        page.goto(f"{server}/?seed=2")
        page.wait_for_selector("#samples [data-item-id] [data-action='like']")
        for item_id in page.eval_on_selector_all(
            "#samples [data-item-id]", "els => els.slice(0, 2).map(e => e.dataset.itemId)"
        ):
            page.tap(f'#samples [data-item-id="{item_id}"] [data-action="like"]')
        page.wait_for_function(
            "() => document.querySelectorAll('#profile-chips li').length === 2 && "
            "document.getElementById('for-you-results').getAttribute('aria-busy') === 'false' && "
            "document.getElementById('for-you-status').textContent.includes('2 likes')"
        )
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, "the page scrolls sideways at phone width"
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#for-you").screenshot(path=str(ARTIFACTS / "browser-for-you-phone.png"))
    finally:
        context.close()
