"""The /live/ page in a real headless Chromium: snapshot rendered, then the new leader after a settlement."""

import os
import shutil

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.live.boards import access_token, board_make, match_finish, match_play, match_with_exact_guess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def in_thread(function, *args, **kwargs):
    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(run).result()


def _chromium() -> str:
    """Debian's Chromium; outside CI its absence skips the test, under CI it fails it."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    missing = None
    if path is None:
        missing = "Chromium is not installed (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "Playwright is not installed (pip install -r requirements-dev.txt)"
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{missing}; CI must run the live page browser test")
        pytest.skip(f"{missing}; the live page browser test needs it")
    return path


def test_live_page_from_the_web_role_renders_the_snapshot_and_animates_in_the_new_leader(processes, real_celery, tmp_path):
    chromium = _chromium()
    from playwright.sync_api import expect, sync_playwright

    board = board_make(members=12)
    match = match_with_exact_guess(board, winners=[board.members[11]])
    # Signed in: Player 01 on the WebSocket page, Player 12 on the SSE page ("my rank").
    tokens = [access_token(board.members[0]), access_token(board.members[11])]
    # The Procfile's split: the page from the WSGI web role, the streams from daphne.
    realtime = processes.daphne()
    # DEBUG serves the page's script from the app's static folder, no collectstatic needed.
    web = processes.gunicorn(DEBUG="true", LIVE_PUBLIC_URL=realtime.base)
    processes.worker()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        try:
            over_ws = browser.new_page()
            over_ws.goto(f"{web.base}/live/")
            expect(over_ws.locator(f"#tournament option[value='{board.tournament.pk}']")).to_have_count(1)
            over_ws.select_option("#tournament", str(board.tournament.pk))
            over_sse = browser.new_page()
            over_sse.goto(f"{web.base}/live/?tournament={board.tournament.pk}&transport=sse")

            mine = f"#me-ranks tr[data-board='tournament:{board.tournament.pk}']"
            for page, token in zip((over_ws, over_sse), tokens):
                expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=15_000)
                expect(page.locator("#board tbody tr")).to_have_count(10)
                expect(page.locator("#board tbody tr").first.locator(".name")).to_have_text("Player 01")
                expect(page.locator("#board tbody tr").first.locator(".live")).to_have_text("0")
                expect(page.locator("#in-play")).to_have_text("No match in play.")
                expect(page.locator("#me-ranks")).to_be_hidden()
                page.click("#signin summary")
                page.fill("#token", token)
                page.click("#token-form button")
                # Everybody at 0 points shares rank 1.
                expect(page.locator(f"{mine} .rank")).to_have_text("1", timeout=15_000)
                expect(page.locator(f"{mine} .total")).to_have_text("12")
                expect(page.locator(f"{mine} .points")).to_have_text("0")
                expect(page.locator(f"{mine} .board")).to_have_text(board.tournament.name)
                expect(page.locator("#me-status")).to_have_attribute("data-state", "live")

            # Playwright's sync API runs an event loop here: database work goes to a thread.
            in_thread(match_finish, match)

            for page in (over_ws, over_sse):
                leader = page.locator("#board tbody tr").first
                expect(leader.locator(".name")).to_have_text("Player 12", timeout=15_000)
                expect(leader.locator(".rank")).to_have_text("1")
                expect(leader.locator(".delta")).to_have_text("new")
                expect(page.locator("#board tbody tr").nth(1).locator(".delta")).to_have_text("▼1")
            # Player 01 fell to second with the same points; Player 12 stays first with the points.
            expect(over_ws.locator(f"{mine} .rank")).to_have_text("2", timeout=15_000)
            expect(over_ws.locator(f"{mine} .points")).to_have_text("0")
            expect(over_sse.locator(f"{mine} .points")).not_to_have_text("0", timeout=15_000)
            expect(over_sse.locator(f"{mine} .rank")).to_have_text("1")
            # Player 12's first exact hit: the SSE page (signed in as Player 12) lists the achievement.
            expect(over_sse.locator("#me-achievements li[data-code='first_exact']")).to_have_text(
                "Achievement: First exact", timeout=15_000
            )

            # A second match kicks off and Player 01's guess is worth 3 live points at 1-0 (goal difference).
            second = in_thread(match_with_exact_guess, board, winners=[board.members[0]])
            in_thread(match_play, second, score=(1, 0))
            for page in (over_ws, over_sse):
                expect(page.locator("#in-play .match")).to_have_text(f"match {second.pk}  1–0", timeout=15_000)
                player_01 = page.locator("#board tbody tr", has=page.locator(".name", has_text="Player 01"))
                expect(player_01.locator(".live")).to_have_text("3")
            expect(over_ws.locator(f"{mine} .live")).to_have_text("3", timeout=15_000)
            over_ws.screenshot(path=str(tmp_path / "live.png"), full_page=True)
        finally:
            browser.close()


def test_a_missing_chromium_skips_with_its_reason_outside_ci_and_fails_under_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        _chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the live page browser test"):
        _chromium()
