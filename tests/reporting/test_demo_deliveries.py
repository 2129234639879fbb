"""The demo county as `manage.py load_demo` loads it: its filings and registers reach the subscribers' feeds
through the relay, as a real county's would, and loading it again changes nothing."""

from django.core.management import call_command

from core.models import User
from reporting.models import Delivery, RelayPending
from reporting.services.relay import relay_versions
from tests.reporting.helpers import token_client


def _feed(username: str) -> list[dict]:
    """Every item of the department's feed, read through the API as its system reads it."""
    client = token_client(User.objects.get(username=username))
    items: list[dict] = []
    query: dict = {"limit": 1000}
    while True:
        page = client.get("/api/v1/feed", query).json()
        items += page["items"]
        if not page["has_more"]:
            return items
        query["after"] = page["next"]


def test_the_loaded_demo_delivers_its_filings_and_registers_to_the_subscribers_feeds(transactional_db, capsys):
    # given an empty database (the tests' own county is flushed) loaded as `dev.py run` loads it
    call_command("flush", "--noinput")
    call_command("load_demo")
    # when the relay has run, as a worker does after the load's commit
    relay_versions()
    # then the culture bureau reads every village's 2026Q3 basics with its own fields only
    culture = _feed("culture")
    basics = [i for i in culture if i["sheet"] == "village_basics"]
    assert len(basics) == 150 and {i["period"] for i in basics} == {"2026Q3"}
    assert all("culture_centre_area" in i["values"] and "registered_population" not in i["values"] for i in basics)
    # civil affairs reads its registers' supplies of the latest period, and the filings that confirmed them
    civil = _feed("civil")
    supplied = [i for i in civil if i["source"] == "civil" and i["period"] == "2026Q4"]
    assert len(supplied) == 150 * 2  # each village's row of its basics and of its civil affairs sheet
    assert {i["unit"]["code"] for i in supplied} == {i["unit"]["code"] for i in basics}
    filings = [i for i in civil if i["source"] is None]
    assert len(filings) == 150 and {i["period"] for i in filings} == {"2026Q3"}
    assert sum(i["origin"].get("registered_population") == "confirmed" for i in filings) == 150
    # the statistics bureau reads its register of the latest period too
    assert len([i for i in _feed("stats") if i["source"] == "stats" and i["period"] == "2026Q4"]) == 150
    made = Delivery.objects.count()

    # when the demo is loaded again: nothing changes, and nothing new waits for the relay
    call_command("load_demo")
    assert "already loaded" in capsys.readouterr().out
    assert not RelayPending.objects.exists()
    relay_versions()
    assert Delivery.objects.count() == made
