"""Filing from a phone that was offline: the unit API refuses values filled on a form that has changed since
(409 form.changed) and stores nothing; the site serves its service worker and an installable manifest itself."""

import datetime as dt
import json

import time_machine

from reporting.catalogue.periods import Period
from reporting.filing.offline import form_version
from reporting.filing.onetable import filing_table
from reporting.models import Sheet, Submission
from reporting.services.calendar import set_due_rules
from reporting.services.rules import define_rule
from tests.reporting.helpers import VILLAGE_BASICS_Q4, token_client

RULE = {
    "code": "households_within_population",
    "sheet": "village_basics",
    "left": "households",
    "operator": "<=",
    "right": "registered_population",
    "strategy": "SKIP_IF_ANY_VALUE_MISSING",
    "importance": "error",
    "message_zh": "户数多于户籍人口",
    "message_en": "more households than registered residents",
}


def _form(cadre) -> str:
    sheet = Sheet.objects.get(code="village_basics")
    return form_version(filing_table(unit=cadre.unit, sheet=sheet, period=Period.parse("2026Q4")))


def _file(cadre, form: str, key: str):
    body = {"sheet": "village_basics", "period": "2026Q4", "values": VILLAGE_BASICS_Q4, "form": form}
    return token_client(cadre).post("/api/v1/unit/submissions", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_it_files_values_filled_on_the_form_in_force(demo, village_cadre):
    one_table = token_client(village_cadre).get("/api/v1/unit/one-table?period=2026Q4").json()
    [sheet] = [s for s in one_table["sheets"] if s["sheet"] == "village_basics"]
    assert sheet["form"] == _form(village_cadre)
    assert _file(village_cadre, sheet["form"], "k-1").status_code == 201


def test_it_refuses_values_filled_on_a_form_changed_since_and_stores_nothing(demo, village_cadre, office_admin):
    before = _form(village_cadre)
    define_rule(office=office_admin.office, definition=RULE, by=office_admin)
    assert _form(village_cadre) != before
    response = _file(village_cadre, before, "k-2")
    assert response.status_code == 409, response.content
    answer = response.json()
    assert answer["code"] == "form.changed" and answer["errors"][0]["field"] == "form"
    assert "本表已调整" in answer["message_zh"] and "the form changed" in answer["message_en"]
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()
    # the phone sending it again gets the same answer; the cadre's values, checked on the new form, file anew
    again = _file(village_cadre, before, "k-2")
    assert again.status_code == 409 and again["Idempotent-Replayed"] == "true"
    assert _file(village_cadre, _form(village_cadre), "k-3").status_code == 201


def test_it_serves_the_service_worker_from_the_root_so_its_scope_covers_the_cadres_pages(client):
    response = client.get("/sw.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "no-cache"
    assert b"workbox.routing.registerRoute" in response.content
    assert client.post("/sw.js").status_code == 405


def test_it_serves_an_installable_manifest_with_icons_of_its_own(client):
    response = client.get("/static/manifest.webmanifest")
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(b"".join(response.streaming_content))
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    sizes = {icon["sizes"] for icon in manifest["icons"] if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert not icon["src"].startswith(("http:", "https:", "//"))
        assert client.get("/static/" + icon["src"]).status_code == 200


def _correct(cadre, submission_id: int, body: dict, *, if_match: str, key: str | None):
    headers = {"HTTP_IF_MATCH": if_match} | ({"HTTP_IDEMPOTENCY_KEY": key} if key else {})
    url = f"/api/v1/unit/submissions/{submission_id}/corrections"
    return token_client(cadre).post(url, body, format="json", **headers)


def _filed(cadre) -> int:
    response = _file(cadre, _form(cadre), "k-first")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_correction_sent_again_under_its_key_gets_the_first_answer_not_a_version_conflict(demo, village_cadre):
    # a phone whose first sending's answer was lost sends the same correction, with the same If-Match, again
    pk = _filed(village_cadre)
    body = {"values": VILLAGE_BASICS_Q4 | {"volunteers": 58}, "reason": "新登记了志愿者", "form": _form(village_cadre)}
    first = _correct(village_cadre, pk, body, if_match='"1"', key="c-1")
    again = _correct(village_cadre, pk, body, if_match='"1"', key="c-1")
    assert first.status_code == 201 and first["ETag"] == '"2"', first.content
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    submission = Submission.objects.get(pk=pk)
    assert submission.current_version == 2 and submission.versions.count() == 2
    # without the key, the same If-Match is a conflict: the key is what makes the retry safe
    assert _correct(village_cadre, pk, body, if_match='"1"', key=None).status_code == 412
    # the key of that correction, used for another one, is refused and files nothing
    other = _correct(village_cadre, pk, body | {"reason": "另一个"}, if_match='"2"', key="c-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency.reused"
    assert Submission.objects.get(pk=pk).current_version == 2


def test_a_correction_overtaken_meanwhile_is_refused_under_its_key_and_stays_refused(demo, village_cadre):
    pk = _filed(village_cadre)
    body = {"values": VILLAGE_BASICS_Q4 | {"volunteers": 70}, "reason": "镇里核对"}
    assert _correct(village_cadre, pk, body, if_match='"1"', key="c-other").status_code == 201
    mine = {"values": VILLAGE_BASICS_Q4 | {"volunteers": 58}, "reason": "新登记了志愿者"}
    for _ in range(2):  # sent twice: the same refusal, nothing applied
        response = _correct(village_cadre, pk, mine, if_match='"1"', key="c-mine")
        assert response.status_code == 412, response.content
        assert response.json()["code"] == "if_match.mismatch" and response.json()["current_version"] == 2
    assert Submission.objects.get(pk=pk).versions.get(number=2).values["volunteers"] == 70
    assert Submission.objects.get(pk=pk).current_version == 2


def test_a_correction_filled_on_a_form_changed_since_is_refused_and_stores_nothing(demo, village_cadre, office_admin):
    pk = _filed(village_cadre)
    before = _form(village_cadre)
    define_rule(office=office_admin.office, definition=RULE, by=office_admin)
    body = {"values": VILLAGE_BASICS_Q4 | {"volunteers": 58}, "reason": "新登记了志愿者", "form": before}
    response = _correct(village_cadre, pk, body, if_match='"1"', key="c-2")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "form.changed"
    assert Submission.objects.get(pk=pk).current_version == 1


def test_a_correction_sent_after_its_period_locked_is_refused_under_its_key_and_stores_nothing(
    demo, village_cadre, office_admin
):
    with time_machine.travel(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC), tick=False) as traveller:
        pk = _filed(village_cadre)
        set_due_rules(days={}, locks={"quarterly": 20}, by=office_admin)
        form = _form(village_cadre)  # the form the phone showed, before the lock
        traveller.move_to(dt.datetime(2027, 2, 1, 2, tzinfo=dt.UTC))  # 2026Q4 is locked from 2027-01-31
        body = {"values": VILLAGE_BASICS_Q4 | {"volunteers": 58}, "reason": "新登记了志愿者", "form": form}
        for _ in range(2):
            response = _correct(village_cadre, pk, body, if_match='"1"', key="c-locked")
            assert response.status_code == 409, response.content
            assert response.json()["code"] == "period.locked"
    assert Submission.objects.get(pk=pk).current_version == 1
