"""The "Dynamics of subscribers" tab in headless Chromium: numbers and charts.

Needs Debian's chromium at /usr/bin/chromium (.ci/run installs it); without
it the test fails rather than skips. The screenshot lands in
test-output/dynamics.png.
"""
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tvmiddleware.fixtures import generate
from tests.test_smartystats_dynamics import NOW, bf_bucket, bf_peak, isolated_locks  # noqa: F401

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


@pytest.mark.django_db(transaction=True)
def test_dynamics_tab_shows_the_numbers_and_draws_the_charts(chromium, live_server, client, operator,
                                                             settings):
    settings.SMARTYSTATS_HOURLY_DAYS = 1
    world = generate(operator.client, now=NOW, seed=91, sessions=250)
    for command in ("cache_customers_dynamic", "save_stats", "cache_max_online"):
        call_command(command, time=NOW.isoformat())
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.login(username="admin", password="pw")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

    first, last = datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 3, 9, tzinfo=timezone.utc)
    end = last + timedelta(days=1)
    expected = {
        "accounts_active": bf_bucket(world, "accounts_active", end - timedelta(days=1), end)[None],
        "customers_active": bf_bucket(world, "customers_active", end - timedelta(days=1), end)[None],
        "accounts_new": bf_bucket(world, "accounts_new", first, end)[None],
        "online_peak_accounts": bf_peak(world.sessions, first, end)[0],
    }
    OUTPUT.mkdir(exist_ok=True)
    with chromium.admin_page(live_server, settings, cookie, 1400, 1800, timeout=10000) as (page, errors):
        page.goto(f"{live_server.url}/admin/smartystats/dynamics/?client_id={operator.client.id}"
                  f"&from=2024-03-01&to=2024-03-09")
        page.wait_for_selector("#sm-dynamics[data-rendered]", timeout=20000)
        assert page.get_attribute("#sm-dynamics", "data-rendered") == "5", page.inner_text("#sm-status")
        shown = {key: page.get_attribute(f'#sm-cards [data-widget="{key}"] .sm-value', "data-value")
                 for key in expected}
        assert {k: int(v) for k, v in shown.items()} == expected
        assert page.inner_text('#sm-now [data-widget="snapshot_accounts_active"] .sm-value') == str(
            sum(a.active for a in world.accounts))
        # Every chart exists and has drawn something on its canvas.
        drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.sm-chart canvas')).map(c => {
            const chart = Chart.getChart(c);
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let ink = 0; for (let i = 3; i < px.length; i += 4) { if (px[i]) ink++; }
            return {id: c.id, points: chart ? chart.data.labels.length : 0, ink: ink};
        })""")
        assert len(drawn) == 5
        for chart in drawn:
            assert chart["points"] == 9 and chart["ink"] > 1000, chart
        page.screenshot(path=str(OUTPUT / "dynamics.png"), full_page=True)
        assert errors == []
