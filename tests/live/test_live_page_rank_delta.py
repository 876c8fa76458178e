"""The /live/ page in a real headless Chromium: arrows from rank_delta (the move since the last rank snapshot)."""

import pytest

from apps.leaderboards.boards.projection_write import projection_rebuild
from apps.leaderboards.boards.snapshots.record import snapshot_record
from apps.leaderboards.models import RankSnapshot, Standing
from tests.live.boards import board_make, match_finish, match_with_exact_guess
from tests.live.test_live_page import LAUNCH_ARGS, _chromium, in_thread

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_top_10_shows_how_far_each_member_moved_since_the_last_snapshot(processes, real_celery):
    chromium = _chromium()
    from playwright.sync_api import expect, sync_playwright

    board = board_make(members=12)
    match = match_with_exact_guess(board, winners=[board.members[11]])
    # At the snapshot Players 01..11 share rank 1 with a point each, Player 12 is twelfth.
    Standing.objects.filter(tournament=board.tournament).exclude(member=board.members[11]).update(points=1)
    projection_rebuild(tournament_id=board.tournament.pk)
    snapshot_record(tournament_id=board.tournament.pk, trigger=RankSnapshot.Trigger.STAFF)
    realtime = processes.daphne()
    web = processes.gunicorn(DEBUG="true", LIVE_PUBLIC_URL=realtime.base)
    processes.worker()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{web.base}/live/?tournament={board.tournament.pk}")
            expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=15_000)
            expect(page.locator("#board tbody tr")).to_have_count(10)
            # Right after the snapshot nobody has moved: no arrow.
            expect(page.locator("#board .since")).to_have_count(0)

            in_thread(match_finish, match)

            leader = page.locator("#board tbody tr").first
            expect(leader.locator(".name")).to_contain_text("Player 12", timeout=15_000)
            # Twelfth at the snapshot, first now; the old leader is one down.
            expect(leader.locator(".since.up")).to_have_text("↑11")
            expect(page.locator("#board tbody tr").nth(1).locator(".since.down")).to_have_text("↓1")
        finally:
            browser.close()
