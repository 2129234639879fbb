import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from core.models import Unit
from reporting.models import Draft, Field, Sheet, Submission, SubmissionVersion
from tests.reporting.helpers import VILLAGE_BASICS_Q4, file_village_basics, subscribe

FILL_Q4 = "/fill/village_basics/2026Q4/"


def form(values: dict, **extra) -> dict:
    return {**{f"v__{k}": v for k, v in values.items()}, "action": "submit", "token": "t-1", **extra}


@pytest.fixture
def cadre_client(client, village_cadre):
    client.force_login(village_cadre)
    return client


def test_the_home_page_lists_what_is_due_and_offers_nothing_like_a_ranking(cadre_client):
    html = cadre_client.get("/fill/").content.decode()
    assert "村（社区）基本情况" in html and "民政服务季报" in html and "文化活动台账" in html
    assert "2027-01-10" in html  # the office's due date for 2026Q4
    for forbidden in ("排名", "排行", "打卡", "签到", "在线时长", "ranking", "check-in"):
        assert forbidden not in html


def test_the_form_pre_fills_stable_facts_and_asks_nothing_unsubscribed(cadre_client, village_cadre):
    html = cadre_client.get(FILL_Q4).content.decode()
    q3 = village_cadre.unit.submissions.get(period="2026Q3").versions.get().values
    assert f'name="v__registered_population" value="{q3["registered_population"]}"' in html
    assert "v__village_type" not in html and "v__grid_workers" not in html
    assert "已带入2026年第3季度的值" in html  # where the carried value comes from, by name


def test_a_rejected_form_keeps_the_typing_names_each_field_and_stores_nothing(cadre_client, village_cadre):
    response = cadre_client.post(FILL_Q4, form({**VILLAGE_BASICS_Q4, "households": "六百", "culture_squares": "500"}))
    assert response.status_code == 400
    html = response.content.decode()
    assert "户数：须为整数" in html and "Households: must be a whole number" in html
    assert "文化广场数：不能大于 100" in html and "Cultural squares: must be at most 100" in html
    assert 'value="六百"' in html and 'value="48"' in html  # everything typed is still there
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()


def test_submitting_shows_what_filing_once_saved(cadre_client, village_cadre):
    # the cadre confirms every carried-forward fact as shown and types only this quarter's volunteers
    shown = dict(re.findall(r'name="v__(\w+)" value="([^"]*)"', cadre_client.get(FILL_Q4).content.decode()))
    q3 = village_cadre.unit.submissions.get(period="2026Q3").versions.get().values
    shown |= {code: "1" if q3[code] else "0" for code in ("has_history_museum", "is_tourism_village")}
    response = cadre_client.post(FILL_Q4, form({**shown, "volunteers": "48"}))
    assert response.status_code == 302
    submission = Submission.objects.get(unit=village_cadre.unit, period="2026Q4")
    assert response["Location"] == f"/submissions/{submission.pk}/?done=1"
    html = cadre_client.get(response["Location"]).content.decode()
    version = submission.versions.get()
    figures = [int(n) for n in re.findall(r"<dd>(\d+) (?:项|个|项次)</dd>", html)]  # each with its measure word
    assert figures == [version.typed_count, version.carried_count, 4, version.refills_spared]
    assert version.typed_count == 1 and version.carried_count == 10  # only "volunteers" is new this quarter


def test_a_double_click_or_a_resent_form_files_once(cadre_client, village_cadre):
    first = cadre_client.post(FILL_Q4, form(VILLAGE_BASICS_Q4))
    again = cadre_client.post(FILL_Q4, form(VILLAGE_BASICS_Q4))
    assert again.status_code == 302
    assert Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").count() == 1
    assert (
        SubmissionVersion.objects.filter(submission__unit=village_cadre.unit, submission__period="2026Q4").count() == 1
    )
    assert again["Location"].startswith(f"/submissions/{first['Location'].split('/')[2]}/")


def test_a_form_token_sent_again_to_another_form_is_filed_there_not_a_server_error(cadre_client, village_cadre):
    # given the quarter filed with the form token "t-1"
    cadre_client.post(FILL_Q4, form(VILLAGE_BASICS_Q4))
    submission = Submission.objects.get(unit=village_cadre.unit, period="2026Q4")
    # when a correction form is sent with that same token (a forged or stale page)
    url = f"/submissions/{submission.pk}/correct/"
    done = cadre_client.post(
        url, form({**VILLAGE_BASICS_Q4, "households": "640"}, base_version="1", reason="重新核实户数")
    )
    # then the correction is filed, not refused with a server error nor answered with the filing's redirect
    assert done.status_code == 302 and done["Location"] == f"/submissions/{submission.pk}/?done=1"
    assert submission.versions.get(number=2).values["households"] == 640


def test_a_draft_is_kept_and_shown_again(cadre_client, village_cadre):
    response = cadre_client.post(FILL_Q4, {"v__households": "615", "action": "draft", "token": "d"})
    assert response.status_code == 302  # nothing to say: back to the form
    assert 'name="v__households" value="615"' in cadre_client.get(FILL_Q4).content.decode()
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()


def test_a_draft_keeps_what_submitting_would_refuse_and_says_so_beside_the_answer(cadre_client, village_cadre):
    # an answer that is not a number and one left empty (a draft is unfinished: the empty one is not named)
    shown = dict(re.findall(r'name="v__(\w+)" value="([^"]*)"', cadre_client.get(FILL_Q4).content.decode()))
    typed = {f"v__{code}": value for code, value in shown.items()} | {"v__households": "abc", "v__volunteers": ""}
    response = cadre_client.post(FILL_Q4, {**typed, "action": "draft", "token": "d"})
    assert response.status_code == 200
    html = response.content.decode()
    assert Draft.objects.get(unit=village_cadre.unit, period="2026Q4").raw["values"]["households"] == "abc"
    # said as a draft kept, never as a refusal ("nothing was saved")
    assert "草稿已保存" in html and 'id="draft-problems"' in html and 'id="problems"' not in html
    assert "尚未保存任何内容" not in html
    [named] = response.context["draft_problems"]
    assert (named.field, named.rule) == ("households", "integer.invalid")
    assert named.message_zh.startswith("户数：") and named.message_en.startswith("Households: ")
    assert 'name="v__households" value="abc"' in html  # the answer stays as typed, with its message beside it
    assert not Submission.objects.filter(unit=village_cadre.unit, period="2026Q4").exists()

    # opened again later: the same is said again, and the cadre's own answer is not called "carried forward"
    again = cadre_client.get(FILL_Q4)
    assert [(p.field, p.rule) for p in again.context["draft_problems"]] == [("households", "integer.invalid")]
    fields = _field_blocks(again.content.decode())
    assert "户数：须为整数" in fields["households"] and "已带入" not in fields["households"]
    assert "已带入" in fields["resident_population"]  # still as carried: the badge asks to confirm it


def _field_blocks(html: str) -> dict[str, str]:
    """Each field's part of the form, by its code."""
    return {part.split('"', 1)[0]: part for part in html.split('id="field-')[1:]}


def test_a_correction_shows_what_changed_between_versions(cadre_client, village_cadre):
    cadre_client.post(FILL_Q4, form(VILLAGE_BASICS_Q4))
    submission = Submission.objects.get(unit=village_cadre.unit, period="2026Q4")
    url = f"/submissions/{submission.pk}/correct/"
    refused = cadre_client.post(url, form({**VILLAGE_BASICS_Q4, "households": "640"}, token="c-0", base_version="1"))
    assert refused.status_code == 400 and "更正原因：必填" in refused.content.decode()
    done = cadre_client.post(
        url, form({**VILLAGE_BASICS_Q4, "households": "640"}, token="c-1", base_version="1", reason="重新核实户数")
    )
    assert done.status_code == 302
    html = cadre_client.get(f"/submissions/{submission.pk}/").content.decode()
    assert "重新核实户数" in html
    assert '<td class="before">610</td><td class="after">640</td>' in html


def test_a_ledger_record_is_added_and_listed(cadre_client, village_cadre):
    url = "/ledger/cultural_activity/new/"
    assert cadre_client.get(url).status_code == 200
    values = {
        "activity_date": "2026-11-08",
        "activity_title": "广场舞展演",
        "activity_venue": "文化广场",
        "activity_category": "performance",
        "attendance": "120",
    }
    assert cadre_client.post(url, form(values)).status_code == 302
    assert "广场舞展演" in cadre_client.get("/ledger/cultural_activity/").content.decode()


def test_a_sixty_field_table_renders_with_a_bounded_number_of_queries(
    cadre_client, village_cadre, django_assert_max_num_queries
):
    sheet = Sheet.objects.get(code="village_basics")
    Field.objects.bulk_create(
        [
            Field(
                sheet=sheet,
                code=f"extra_{i}",
                name_zh=f"附加{i}",
                name_en=f"Extra {i}",
                type="integer",
                constraints={"min": 0},
                stable=i % 2 == 0,
                order=100 + i,
            )
            for i in range(49)
        ]
    )
    subscribe("civil", [f"extra_{i}" for i in range(49)])
    # session, user, unit, catalogue generation, active sheets, submission, claims, fields, revisions,
    # departments, carry-forward, calendar (2), draft; the sheet's rules, expected ranges and plausibility
    # threshold (issue 22: read with the catalogue, once per generation), and the unit's own history for the
    # plausibility hints shown as the cadre types (issue 22: which versions make it, then their values)
    with django_assert_max_num_queries(20):
        response = cadre_client.get(FILL_Q4)
    assert response.content.decode().count('class="field') == 60
    # the active sheets and the sheet's claims, fields, revisions, departments and calendar (issue 21) are read
    # once per generation; the unit's plausibility baseline is kept while the versions it was made from are the
    # same (one small read)
    with django_assert_max_num_queries(9):
        response = cadre_client.get(FILL_Q4)
    assert response.content.decode().count('class="field') == 60


# --- access: every page tried from the side of those who must not get through -----------------------------------


@pytest.fixture
def someone_elses_submission(village_cadre) -> Submission:

    other = Unit.objects.filter(area__parent__name="石门乡").select_related("area").first()
    cadre = other.members.first()
    return file_village_basics(cadre).submission


def test_a_cadre_of_another_unit_gets_404_for_a_submission_that_is_not_theirs(cadre_client, someone_elses_submission):
    pk = someone_elses_submission.pk
    assert cadre_client.get(f"/submissions/{pk}/").status_code == 404
    assert cadre_client.get(f"/submissions/{pk}/correct/").status_code == 404
    response = cadre_client.post(f"/submissions/{pk}/correct/", form(VILLAGE_BASICS_Q4, reason="x", base_version="1"))
    assert response.status_code == 404
    assert Submission.objects.get(pk=pk).current_version == 1


def test_a_village_cadre_cannot_open_a_township_sheet(cadre_client):
    assert cadre_client.get("/fill/township_monthly/202611/").status_code == 404


@pytest.mark.parametrize("persona", ["propaganda_analyst", "office_admin"])
def test_department_and_office_users_cannot_file(client, request, persona, village_cadre):
    client.force_login(request.getfixturevalue(persona))
    for url in (
        "/fill/",
        FILL_Q4,
        "/ledger/cultural_activity/",
        "/ledger/cultural_activity/new/",
        "/fill/2026Q4/template.xlsx",
        "/fill/2026Q4/upload/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(FILL_Q4, form(VILLAGE_BASICS_Q4)).status_code == 404
    assert not Submission.objects.filter(period="2026Q4").exists()


def test_an_anonymous_visitor_is_sent_to_log_in(client, demo):
    response = client.get(FILL_Q4)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_each_input_states_its_rules_before_any_error(cadre_client):
    html = cadre_client.get(FILL_Q4).content.decode()
    squares = html[html.index('id="field-culture_squares"') :]
    squares = squares[: squares.index('id="v-culture_squares"')]
    assert '<span class="rule">0 至 100</span>' in squares
    area = html[html.index('id="field-culture_centre_area"') :]
    assert "0 至 100,000 · 最多保留 1 位小数" in area[: area.index("<input")]


@time_machine.travel(dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC), tick=False)
def test_what_is_due_comes_soonest_due_first_and_past_due_says_so(client, township_cadre):
    client.force_login(township_cadre)
    html = client.get("/fill/").content.decode()
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings[:4] == ["2025年", "2026年10月", "2026年11月", "2026年"]  # due 2026-01-31, 11-05, 12-05, 2027-01-31
    cards = html.split('<section class="card">')
    assert "已过截止日期" in cards[1] and "已过截止日期" in cards[2]  # the 2025 yearly and October: not filed, past due
    assert "已过截止日期" not in cards[3] and "已过截止日期" not in cards[4]


def test_a_not_applicable_answer_is_shown_with_its_reason_and_no_unit_of_measure(cadre_client, village_cadre):
    from reporting.catalogue.periods import Period
    from reporting.services.submissions import submit_sheet
    from tests.reporting.helpers import VILLAGE_BASICS_Q4

    raw = {code: value for code, value in VILLAGE_BASICS_Q4.items() if code != "library_books"}
    version = submit_sheet(
        unit=village_cadre.unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw=raw,
        not_applicable={"library_books": "村里没有农家书屋"},
        by=village_cadre,
    )
    unit_label = Field.objects.get(code="library_books").unit_label
    assert unit_label  # the field has a unit of measure the page could have put after the answer
    html = cadre_client.get(f"/submissions/{version.submission_id}/").content.decode()
    assert "<td>不适用（村里没有农家书屋）" in html
    assert f"不适用（村里没有农家书屋） {unit_label}" not in html


TOWNSHIP_MONTHLY = "/fill/township_monthly/202611/"


def _monthly_tab(client):
    html = client.get(TOWNSHIP_MONTHLY).content.decode()
    assert html and "v__" in html
    numbers = re.findall(r'name="(v__\w+)" value="[^"]*"\s+type="text" inputmode="numeric"', html)
    return numbers, re.search(r'name="token" value="(\w+)"', html).group(1)


def test_a_second_tab_submitting_a_filed_period_is_told_so_and_keeps_what_was_typed(client, township_cadre):
    # given the township's November form open in two tabs
    client.force_login(township_cadre)
    numbers, token_1 = _monthly_tab(client)
    _numbers, token_2 = _monthly_tab(client)
    assert numbers
    code = numbers[0]
    first = {code: "11", "action": "submit", "token": token_1}
    second = {code: "77", "action": "submit", "token": token_2}
    # when tab 1 submits and tab 2 then submits other values
    filled = client.post(TOWNSHIP_MONTHLY, first)
    if filled.status_code != 302:  # a form with required fields: fill them the same in both tabs
        required = dict(re.findall(r'name="(v__\w+)" value="([^"]*)"', filled.content.decode()))
        first, second = {**required, **first}, {**required, **second}
        filled = client.post(TOWNSHIP_MONTHLY, first)
    assert filled.status_code == 302, filled.content.decode()[:3000]
    submission = Submission.objects.get(unit=township_cadre.unit, sheet__code="township_monthly", period="202611")
    response = client.post(TOWNSHIP_MONTHLY, second)
    # then nothing of tab 2 is stored, the page says so in both languages, and tab 2's values are still there
    html = response.content.decode()
    assert response.status_code == 409
    assert "本表本期已提交，您在此页填写的内容未保存；如需修改请更正" in html
    assert "this sheet was already submitted for this period; what you typed on this page was not saved" in html
    assert f'name="{code}" value="77"' in html
    assert f'action="/submissions/{submission.pk}/correct/"' in html  # the correction form, to send them on
    assert submission.versions.count() == 1
    assert str(submission.versions.get().values[code.removeprefix("v__")]) == "11"


def test_a_correction_sent_after_another_tab_corrected_keeps_its_values_and_reason(cadre_client, village_cadre):
    # given the quarter filed, and its correction form open in two tabs (both on version 1)
    cadre_client.post(FILL_Q4, form(VILLAGE_BASICS_Q4))
    submission = Submission.objects.get(unit=village_cadre.unit, period="2026Q4")
    url = f"/submissions/{submission.pk}/correct/"
    tab_1 = form(
        {**VILLAGE_BASICS_Q4, "households": "640", "volunteers": "60"}, token="c-1", base_version="1", reason="重新核实"
    )
    tab_2 = form({**VILLAGE_BASICS_Q4, "households": "655"}, token="c-2", base_version="1", reason="新增安置户")
    # when tab 1 corrects, then tab 2 sends its own correction
    assert cadre_client.post(url, tab_1).status_code == 302
    response = cadre_client.post(url, tab_2)
    # then tab 2's correction is not stored, the page says why, and keeps its values and reason on version 2
    html = response.content.decode()
    assert response.status_code == 409
    assert "本条数据已由他人更正为第 2 版，您的更正未保存" in html and "it is now version 2" in html
    assert 'name="v__households" value="655"' in html and 'value="新增安置户"' in html
    assert 'name="base_version" value="2"' in html
    assert submission.versions.count() == 2
    # and beside the kept values, what version 2 changed against what tab 2 holds: undoing it is a decision
    changed = dict(
        (code, (newer, yours))
        for code, newer, yours in re.findall(
            r'<tr data-field="(\w+)"><td><a [^>]*>[^<]*</a></td><td>([^<]*)</td><td>([^<]*)</td></tr>', html
        )
    )
    assert changed == {"households": ("640", "655"), "volunteers": ("60", "48")}
    assert "第 2 版改动了以下字段，表格中保留的是您填写的值" in html


def test_the_done_page_counts_only_departments_sent_an_answer_not_one_whose_only_field_was_left_empty(
    cadre_client, village_cadre
):
    # propaganda takes only the volunteers of the village basics; the cadre leaves that optional field empty
    shown = dict(re.findall(r'name="v__(\w+)" value="([^"]*)"', cadre_client.get(FILL_Q4).content.decode()))
    q3 = village_cadre.unit.submissions.get(period="2026Q3").versions.get().values
    shown |= {code: "1" if q3[code] else "0" for code in ("has_history_museum", "is_tourism_village")}
    response = cadre_client.post(FILL_Q4, form({**shown, "volunteers": ""}))
    assert response.status_code == 302, response.content.decode()[:3000]
    html = cadre_client.get(response["Location"]).content.decode()
    version = Submission.objects.get(unit=village_cadre.unit, period="2026Q4").versions.get()
    assert "volunteers" not in version.values and version.department_count == 3  # civil, culture, stats
    figures = [int(n) for n in re.findall(r"<dd>(\d+) (?:项|个|项次)</dd>", html)]
    assert figures == [version.typed_count, version.carried_count, 3, version.refills_spared]
