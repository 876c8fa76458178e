"""The /live/ page in a real headless Chromium shows the signed-in member's pinned members under the top 10."""

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from apps.members.models import Pin
from tests.live.boards import board_make
from tests.live.test_live_page import LAUNCH_ARGS, _chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_live_page_lists_the_pinned_members_below_the_top_10(processes):
    chromium = _chromium()
    from playwright.sync_api import expect, sync_playwright

    board = board_make(members=12)
    me = board.members[0]
    # Everyone has 0 points: the top 10 lists Player 01..10 by id; Player 11 and 12 are below it.
    Pin.objects.bulk_create([Pin(member=me, pinned=board.members[11]), Pin(member=me, pinned=board.members[10])])
    access = str(RefreshToken.for_user(me).access_token)
    realtime = processes.daphne()
    web = processes.gunicorn(DEBUG="true", LIVE_PUBLIC_URL=realtime.base)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        try:
            signed_in = browser.new_page()
            signed_in.add_init_script(f"window.sessionStorage.setItem('scoreboard.access', {access!r});")
            signed_in.goto(f"{web.base}/live/?tournament={board.tournament.pk}")
            expect(signed_in.locator("#board tbody tr")).to_have_count(10, timeout=15_000)
            expect(signed_in.locator("#pinned-card")).to_be_visible(timeout=15_000)
            expect(signed_in.locator("#pinned tbody tr .name")).to_have_text(["Player 11", "Player 12"])
            expect(signed_in.locator("#pinned tbody tr .rank")).to_have_text(["1", "1"])

            anonymous = browser.new_page()
            anonymous.goto(f"{web.base}/live/?tournament={board.tournament.pk}")
            expect(anonymous.locator("#board tbody tr")).to_have_count(10, timeout=15_000)
            expect(anonymous.locator("#pinned-card")).to_be_hidden()
        finally:
            browser.close()
