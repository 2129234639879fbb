"""The demo's pulling departments really read their feed, and the zombie check runs on demand."""

import datetime as dt
import time

import pytest
from django.core.management import CommandError, call_command

from core.models import User
from reporting.models import AccessKind, AccessRecord, Subscription, SubscriptionStatus, ZombieFlag
from reporting.services.relay import relay_versions
from tests.reporting.helpers import file_village_basics


def _read_feeds(base_url: str, capsys) -> list[str]:
    call_command("demo_feed_reader", "--base-url", base_url, "--once")
    return [line for line in capsys.readouterr().out.splitlines() if " read dlv_" in line]


def test_the_demo_feed_reader_reads_the_civil_and_statistics_feeds_over_http_and_reads_on_from_its_cursor(
    committed_demo, live_server, tmp_path, settings, capsys
):
    settings.DATA_DIR = tmp_path  # the data folder, ONETABLE_DATA_DIR
    village = User.objects.select_related("unit__area").get(username="village")
    file_village_basics(village)
    relay_versions()  # as a worker does after commit; read as the demo does, until it is there
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while len(lines) < 2 and time.monotonic() < deadline:
        lines += _read_feeds(live_server.url, capsys)
        time.sleep(0.2)  # polling, as a department system does
    # each bureau's system got the filing with its own fields only
    assert len(lines) == 2, lines
    civil, stats = sorted(lines)
    assert civil.startswith("civil read dlv_") and "2026Q4" in civil and '"households": 610' in civil
    assert "arable_land" not in civil and "arable_land" in stats and stats.startswith("stats read dlv_")
    # the unit sees that both read it
    pulled = AccessRecord.objects.filter(unit=village.unit, kind=AccessKind.PULLED)
    assert set(pulled.values_list("department__code", flat=True)) == {"civil", "stats"}
    # started again, each reader goes on from its saved cursor: nothing is read twice
    assert _read_feeds(live_server.url, capsys) == []
    assert (tmp_path / "demo_feed_cursor_civil").exists()


def test_the_demo_feed_reader_waits_for_a_server_that_is_not_up_yet(committed_demo, tmp_path, settings, capsys):
    settings.DATA_DIR = tmp_path  # the data folder, ONETABLE_DATA_DIR
    call_command("demo_feed_reader", "--base-url", "http://127.0.0.1:9", "--once")
    out = capsys.readouterr().out
    assert "civil: feed not readable yet" in out and "stats: feed not readable yet" in out


def test_the_zombie_check_runs_on_demand_with_the_beat_tasks_service(demo, settings, capsys):
    settings.ONETABLE_ZOMBIE_MONTHS, settings.ONETABLE_ZOMBIE_GRACE_DAYS = 3, 30
    day = dt.date(2026, 12, 1)
    call_command("zombie_check", "--date", day.isoformat())
    out = capsys.readouterr().out
    assert "新标记的闲置订阅：4 / idle subscriptions flagged: 4" in out  # nobody received or read anything
    assert ZombieFlag.objects.filter(subscription__department__code="stats", flagged_on=day).exists()
    call_command("zombie_check", "--date", (day + dt.timedelta(days=31)).isoformat())
    assert "宽限期满终止的订阅：4 / subscriptions ended after their grace period: 4" in capsys.readouterr().out
    assert Subscription.objects.get(department__code="stats").status == SubscriptionStatus.ENDED


def test_the_zombie_check_refuses_a_malformed_date_by_name(demo):
    with pytest.raises(CommandError, match="--date must be YYYY-MM-DD"):
        call_command("zombie_check", "--date", "2026-13-01")
