import datetime as dt
import re
import threading

import pytest
import time_machine
from django.db import connection, transaction

from reporting.models import DataRequest, Endpoint, Field, RequestStatus, Sheet, Subscription
from tests.reporting.helpers import REQUEST_FORM, form_of, text_of
from tests.waiting import someone_waits_for_my_lock, wait_for


@time_machine.travel(dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC), tick=False)
def test_a_department_asks_the_office_reviews_with_overlaps_and_the_department_sees_the_reason(
    client, stats_user, office_admin
):
    client.force_login(stats_user)
    wanted = Field.objects.get(code="left_behind_children")
    response = client.post(
        "/department/requests/new/",
        {
            **REQUEST_FORM,
            "fields": [wanted.pk],
            "p1_code": "hukou",
            "p1_name_zh": "户籍人口数",
            "p1_name_en": "Registered",
            "p1_type": "integer",
            "p1_unit": "人",
            "p1_sheet": "village_basics",
        },
    )
    request = DataRequest.objects.get()
    assert response["Location"] == f"/department/requests/{request.pk}/"
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    assert DataRequest.objects.get().status == RequestStatus.SUBMITTED

    client.force_login(office_admin)
    html = client.get(f"/office/requests/{request.pk}/").content.decode()
    assert "户籍人口" in html and "名称相近" in html and "青山县民政局" in html  # the overlap and who receives it
    assert 'data-warning="duplicate"' in html
    assert (
        "拟新增：宽带入户户数" in html and "· 已创建" in html
    )  # the history's action, not the "created" column's name
    assert "创建时间" not in html
    # each proposal's definition, and each match's, in words, so the two can be compared
    assert '<p class="definition">整数 · 户 · 不能小于 0</p>' in html
    hukou = html[html.index("户籍人口数") :]
    match = hukou[hukou.index('<tr class="match">') :]
    assert "整数 · 人 · 必填 · 0 至 1,000,000" in match[: match.index("</tr>")]
    registered = Field.objects.get(code="registered_population")
    response = client.post(
        f"/office/requests/{request.pk}/",
        {
            "decision": "approve",
            "reason": "复用户籍人口；新增宽带字段",
            "fields": [wanted.pk],
            "proposal_broadband_households": "create",
            "proposal_hukou": str(registered.pk),
        },
    )
    assert response.status_code == 302
    subscription = Subscription.objects.get(request__pk=request.pk)
    assert set(subscription.fields.values_list("code", flat=True)) == {
        "left_behind_children",
        "broadband_households",
        "registered_population",
    }
    assert subscription.starts_on == dt.date(2027, 1, 1)

    client.force_login(stats_user)
    html = client.get(f"/department/requests/{request.pk}/").content.decode()
    assert "复用户籍人口；新增宽带字段" in html and "2027-01-01" in html


def test_a_bad_request_form_names_each_problem_as_the_form_shows_it_and_saves_nothing(client, stats_user):
    client.force_login(stats_user)
    response = client.post(
        "/department/requests/new/",
        {
            **REQUEST_FORM,
            "title": "",
            "first_period": "明年",
            "p0_integer_min": "零",
            "p0_integer_max": "100",
            "p1_code": "Bad Code",
            "p1_name_zh": "体育场地数",
            "p1_type": "choice",
            "p1_sheet": "village_basics",
        },
    )
    assert response.status_code == 400
    problems = text_of(response.content.decode(), 'id="problems"', "</div>")
    for said in (
        "标题：必填 / Title: is required",
        "首个报告期：“明年”不是有效的报告期",
        "新增字段 1 · 最小值：须为整数 / New field 1 · Minimum: must be a whole number",
        "新增字段 2 · 编码：编码须以小写字母开头",
        "新增字段 2 · 英文名称：必填 / New field 2 · English name: is required",
        "新增字段 2 · 选项：必填 / New field 2 · Options: is required",
    ):
        assert said in problems
    # no internal key reaches the page: neither the service's nor the form's input names
    for key in ("title：", "proposed[", "constraints", "p0_", "integer_min", "choices", "name_en"):
        assert key not in problems
    assert not DataRequest.objects.exists()


def test_only_the_office_reviews_and_only_the_asking_department_sees_its_request(
    client, stats_user, civil_analyst, village_cadre
):
    client.force_login(stats_user)
    client.post("/department/requests/new/", REQUEST_FORM)
    request = DataRequest.objects.get()
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    for user in (stats_user, civil_analyst, village_cadre):
        client.force_login(user)
        assert client.get(f"/office/requests/{request.pk}/").status_code == 404
        assert client.post(f"/office/requests/{request.pk}/", {"decision": "approve", "reason": "x"}).status_code == 404
    client.force_login(civil_analyst)
    assert client.get(f"/department/requests/{request.pk}/").status_code == 404
    assert client.post(f"/department/requests/{request.pk}/submit/", {"action": "withdraw"}).status_code == 404
    assert DataRequest.objects.get().status == RequestStatus.SUBMITTED
    DataRequest.objects.filter(pk=request.pk).update(status=RequestStatus.DRAFT)  # editable, but not by them
    assert client.get(f"/department/requests/{request.pk}/edit/").status_code == 404
    assert client.post(f"/department/requests/{request.pk}/edit/", {**REQUEST_FORM, "title": "改"}).status_code == 404
    assert DataRequest.objects.get().title == REQUEST_FORM["title"]


# A request proposing one field of each kind of definition, through the inputs the form offers for each type.
EVERY_KIND = {
    **REQUEST_FORM,
    "p0_required": "1",
    "p0_integer_min": "0",
    "p0_integer_max": "20,000",
    "p0_description": "已通光纤宽带的农户",
    "p0_stable": "1",
    "p1_code": "collective_income",
    "p1_name_zh": "村集体经营性收入",
    "p1_name_en": "Collective income",
    "p1_type": "decimal",
    "p1_unit": "万元",
    "p1_sheet": "village_basics",
    "p1_decimal_min": "0",
    "p1_decimal_max": "99999.5",
    "p1_decimal_places": "1",
    "p1_integer_max": "7",  # typed before the type was changed: not part of a decimal's definition
    "p2_code": "broadband_provider",
    "p2_name_zh": "宽带运营商",
    "p2_name_en": "Broadband provider",
    "p2_type": "multi_choice",
    "p2_sheet": "village_basics",
    "p2_multi_choice_choices": "telecom | 中国电信 | China Telecom\nunicom | 中国联通\r\nmobile",
    "p2_multi_choice_max_selected": "2",
}
EVERY_KIND_STORED = [
    {
        "code": "broadband_households",
        "name_zh": "宽带入户户数",
        "name_en": "Broadband households",
        "type": "integer",
        "unit_of_measure": "户",
        "sheet": "village_basics",
        "description": "已通光纤宽带的农户",
        "constraints": {"required": True, "min": 0, "max": 20000},
        "stable": True,
    },
    {
        "code": "collective_income",
        "name_zh": "村集体经营性收入",
        "name_en": "Collective income",
        "type": "decimal",
        "unit_of_measure": "万元",
        "sheet": "village_basics",
        "description": "",
        "constraints": {"min": 0, "max": 99999.5, "places": 1},
    },
    {
        "code": "broadband_provider",
        "name_zh": "宽带运营商",
        "name_en": "Broadband provider",
        "type": "multi_choice",
        "unit_of_measure": "",
        "sheet": "village_basics",
        "description": "",
        "constraints": {
            "choices": [
                {"code": "telecom", "zh": "中国电信", "en": "China Telecom"},
                {"code": "unicom", "zh": "中国联通"},
                {"code": "mobile"},
            ],
            "max_selected": 2,
        },
    },
]


@pytest.fixture
def stats_endpoint(stats_user) -> Endpoint:
    return Endpoint.objects.create(
        department=stats_user.department, name="统计数据仓库", url="http://127.0.0.1:9/", secret="whsec_AAAA"
    )


@time_machine.travel(dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC), tick=False)
def test_editing_a_draft_shows_and_keeps_everything_stored_through_to_the_approved_subscription(
    client, stats_user, office_admin, stats_endpoint
):
    client.force_login(stats_user)
    Endpoint.objects.create(department=stats_user.department, name="备用接收", url="http://127.0.0.1:9/", secret="x")
    wanted = Field.objects.get(code="left_behind_children")
    created = client.post(
        "/department/requests/new/",
        {**EVERY_KIND, "fields": [wanted.pk], "endpoint": stats_endpoint.pk, "expires_on": "2028-12-31"},
    )
    assert created.status_code == 302, text_of(created.content.decode(), "<main", "</main>")
    request = DataRequest.objects.get()
    assert request.proposed == EVERY_KIND_STORED and request.endpoint == stats_endpoint
    stored = DataRequest.objects.values().get()

    # the analyst opens the draft and saves it without touching anything
    form = form_of(client.get(f"/department/requests/{request.pk}/edit/").content.decode(), "title")
    assert form["endpoint"] == [str(stats_endpoint.pk)]
    assert form["p0_integer_max"] == ["20000"] and form["p0_required"] == ["1"] and form["p0_stable"] == ["1"]
    assert form["p1_decimal_places"] == ["1"] and form["p1_decimal_max"] == ["99999.5"]
    assert form["p2_multi_choice_choices"] == ["telecom | 中国电信 | China Telecom\nunicom | 中国联通\nmobile"]
    assert form["fields"] == [str(wanted.pk)]
    saved = client.post(f"/department/requests/{request.pk}/edit/", form)
    assert saved.status_code == 302, text_of(saved.content.decode(), "<main", "</main>")
    again = DataRequest.objects.values().get()
    assert again == stored
    assert list(request.fields.all()) == [wanted]

    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    client.force_login(office_admin)
    approved = client.post(
        f"/office/requests/{request.pk}/", {"decision": "approve", "reason": "同意", "fields": [wanted.pk]}
    )
    assert approved.status_code == 302
    subscription = Subscription.objects.get(request__pk=request.pk)
    assert subscription.endpoint == stats_endpoint and subscription.expires_on == dt.date(2028, 12, 31)
    for proposal in EVERY_KIND_STORED:
        field = Field.objects.get(code=proposal["code"])
        assert field.constraints == proposal["constraints"] and field.description == proposal["description"]
    assert Field.objects.get(code="broadband_households").stable


def test_a_refused_request_form_shows_again_everything_typed(client, stats_user, stats_endpoint):
    client.force_login(stats_user)
    wanted = Field.objects.get(code="left_behind_children")
    typed = {
        **EVERY_KIND,
        "title": "",  # the one mistake
        "fields": [str(wanted.pk)],
        "endpoint": str(stats_endpoint.pk),
        "expires_on": "2028-12-31",
    }
    refused = client.post("/department/requests/new/", typed)
    assert refused.status_code == 400
    shown = form_of(refused.content.decode(), "title")
    for name, value in typed.items():
        assert shown.get(name) == (value if isinstance(value, list) else [value]), name
    assert not DataRequest.objects.exists()

    # putting the mistake right and sending the page as it stands stores what was meant
    shown["title"] = ["宽带与集体收入"]
    assert client.post("/department/requests/new/", shown).status_code == 302
    assert DataRequest.objects.get().proposed == EVERY_KIND_STORED


def test_a_row_left_empty_between_new_fields_is_not_a_proposal_and_messages_follow_the_rows_shown(client, stats_user):
    client.force_login(stats_user)
    posted = {**REQUEST_FORM, "p0_code": "", "p0_name_zh": "", "p0_name_en": "", "p0_unit": "", "p0_integer_min": ""}
    posted |= {"p2_code": "hall_seats", "p2_name_zh": "礼堂座位数", "p2_type": "integer", "p2_integer_min": "x"}
    posted |= {"p2_sheet": "village_basics"}
    refused = client.post("/department/requests/new/", posted)
    problems = text_of(refused.content.decode(), 'id="problems"', "</div>")
    assert "新增字段 1 · 英文名称：必填" in problems and "新增字段 1 · 最小值：须为整数" in problems
    shown = form_of(refused.content.decode(), "title")
    assert shown["p0_code"] == ["hall_seats"] and shown["p0_integer_min"] == ["x"]  # the first row shown
    assert shown["p1_code"] == [""] and shown["p2_code"] == [""]


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"endpoint": "999999"}, "the push endpoint is not one of the department's"),
        ({"endpoint": "²"}, "the push endpoint is not one of the department's"),
        ({"fields": ["999999"]}, "a chosen existing field does not exist or was retired"),
        ({"title": "长" * 121}, "Title: must be at most 120 characters"),
        ({"p0_name_zh": "长" * 121}, "New field 1 · Chinese name: must be at most 120 characters"),
        ({"p1_code": "broadband_households", "p1_name_zh": "宽带户", "p1_name_en": "b"}, "same code as new field 1"),
        ({"p0_type": "integer", "p0_integer_min": "5", "p0_integer_max": "1"}, "New field 1: min must not be greater"),
        ({"p0_type": "money"}, "New field 1 · Type: unknown field type “money”"),
    ],
)
def test_a_request_that_cannot_be_kept_as_it_is_is_refused_by_name(client, stats_user, changes, said):
    client.force_login(stats_user)
    refused = client.post("/department/requests/new/", {**REQUEST_FORM, **changes})
    assert refused.status_code == 400
    assert said in text_of(refused.content.decode(), 'id="problems"', "</div>")
    assert not DataRequest.objects.exists()


def test_an_endpoint_of_another_department_cannot_be_chosen(client, stats_user, civil_analyst):
    theirs = Endpoint.objects.create(
        department=civil_analyst.department, name="民政", url="http://127.0.0.1:9/", secret="x"
    )
    client.force_login(stats_user)
    refused = client.post("/department/requests/new/", {**REQUEST_FORM, "endpoint": theirs.pk})
    assert refused.status_code == 400 and "民政" not in text_of(refused.content.decode(), "<form", "</form>")
    assert not DataRequest.objects.exists()


def _submitted(client, user, **changes) -> DataRequest:
    client.force_login(user)
    assert client.post("/department/requests/new/", {**REQUEST_FORM, **changes}).status_code == 302
    request = DataRequest.objects.filter(department=user.department).first()
    client.post(f"/department/requests/{request.pk}/submit/", {"action": "submit"})
    return request


def test_approving_a_second_request_that_proposes_a_code_just_created_is_answered_and_reuse_then_works(
    client, stats_user, civil_analyst, office_admin
):
    first = _submitted(client, stats_user)
    second = _submitted(client, civil_analyst, title="宽带入户核查", p0_name_zh="宽带户数", p0_name_en="Broadband")
    client.force_login(office_admin)
    decision = {"decision": "approve", "reason": "同意新增", "proposal_broadband_households": "create"}
    assert client.post(f"/office/requests/{first.pk}/", decision).status_code == 302
    before = (Field.objects.count(), Subscription.objects.count())

    refused = client.post(f"/office/requests/{second.pk}/", decision)
    assert refused.status_code == 400
    said = text_of(refused.content.decode(), 'id="problems"', "</div>")
    assert "新增字段“宽带户数” · 编码：编码“broadband_households”已被目录中的字段使用，请复用该字段" in said
    assert "New field “Broadband” · Code: the code “broadband_households” is already used" in said
    assert (Field.objects.count(), Subscription.objects.count()) == before
    assert DataRequest.objects.get(pk=second.pk).status == RequestStatus.SUBMITTED
    shown = form_of(refused.content.decode(), "reason")
    assert shown["reason"] == ["同意新增"]  # what the office typed is still there

    # the field the first approval created is offered for reuse, by its code
    created = Field.objects.get(code="broadband_households")
    assert f'<option value="{created.pk}">' in refused.content.decode()
    reused = client.post(f"/office/requests/{second.pk}/", {**decision, "proposal_broadband_households": created.pk})
    assert reused.status_code == 302
    assert list(Subscription.objects.get(request__pk=second.pk).fields.all()) == [created]


def test_one_request_proposing_the_same_code_twice_is_refused_before_it_reaches_the_office(client, stats_user):
    client.force_login(stats_user)
    twice = {"p1_code": "broadband_households", "p1_name_zh": "宽带户", "p1_name_en": "B", "p1_sheet": "village_basics"}
    refused = client.post("/department/requests/new/", {**REQUEST_FORM, **twice})
    assert "新增字段 2 · 编码：与新增字段 1 的编码相同" in text_of(refused.content.decode(), 'id="problems"', "</div>")


@pytest.mark.parametrize(
    ("posted", "said"),
    [
        ({"reason": "同意"}, "请选择“批准”或“不予批准”"),
        ({"decision": "maybe", "reason": "同意"}, "choose “Approve” or “Reject”"),
        ({"decision": "approve", "reason": "同意", "proposal_broadband_households": "²"}, "新增字段“宽带入户户数”"),
        ({"decision": "approve", "reason": "同意", "proposal_broadband_households": "987654"}, "was retired"),
        ({"decision": "approve", "reason": " "}, "审核意见：必填"),
        ({"decision": "approve", "reason": "x", "proposal_broadband_households": "drop"}, "choose at least one"),
    ],
)
def test_every_review_that_cannot_be_carried_out_is_a_clear_answer_and_changes_nothing(
    client, stats_user, office_admin, posted, said
):
    request = _submitted(client, stats_user)
    client.force_login(office_admin)
    refused = client.post(f"/office/requests/{request.pk}/", posted)
    assert refused.status_code == 400
    assert said in text_of(refused.content.decode(), 'id="problems"', "</div>")
    assert DataRequest.objects.get().status == RequestStatus.SUBMITTED and not Subscription.objects.filter(
        request__pk=request.pk
    )


def test_a_decision_on_a_request_already_decided_is_answered(client, stats_user, office_admin):
    request = _submitted(client, stats_user)
    client.force_login(office_admin)
    client.post(f"/office/requests/{request.pk}/", {"decision": "reject", "reason": "不需要"})
    again = client.post(f"/office/requests/{request.pk}/", {"decision": "approve", "reason": "改变主意"})
    assert again.status_code == 400 and "the request is not under review" in again.content.decode()
    assert DataRequest.objects.get().status == RequestStatus.REJECTED


@time_machine.travel(dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC), tick=False)
def test_the_review_page_says_when_the_subscription_starts_and_reads_its_figures_in_words(
    client, stats_user, office_admin
):
    hukou = {"p1_code": "hukou", "p1_name_zh": "户籍人口数", "p1_name_en": "Registered", "p1_type": "integer"}
    request = _submitted(client, stats_user, first_period="2026Q4", p1_sheet="village_basics", **hukou)
    client.force_login(office_admin)
    html = client.get(f"/office/requests/{request.pk}/").content.decode()
    start = text_of(html, 'id="start"', "</p>")
    # 2026Q4 has begun: an approval now starts with the next quarter, as review_request sets it
    assert "2027年第1季度" in start and "2027-01-01" in start and "2026年第4季度" in start
    figures = text_of(html, '<dl class="figures">', "</dl>")
    assert "每年新增填报工时" in figures and "小时" in figures
    why = text_of(html, '<tr class="match">', "</tr>")
    assert "名称相近（相似度" in text_of(html) and "%）" in text_of(html)
    assert not re.search(r"\(0\.\d+\)", text_of(html)), why  # no raw similarity score
    client.post(f"/office/requests/{request.pk}/", {"decision": "approve", "reason": "同意"})
    assert Subscription.objects.get(request__pk=request.pk).starts_on == dt.date(2027, 1, 1)
    approved = text_of(client.get(f"/office/requests/{request.pk}/").content.decode(), 'id="start"', "</p>")
    assert "2027-01-01" in approved


def test_an_approval_racing_another_for_the_same_new_code_is_answered_not_a_server_error(
    client, stats_user, office_admin
):
    """The check before creating a field cannot see a field another approval has created but not yet
    committed; the unique code then decides, and the loser is told, as if it had come second."""
    request = _submitted(client, stats_user)
    inserted = threading.Event()

    def other_approval():
        try:
            with transaction.atomic():
                Field.objects.create(
                    sheet=Sheet.objects.get(code="village_basics"),
                    code="broadband_households",
                    name_zh="宽带户数",
                    name_en="Broadband",
                    type="integer",
                )
                inserted.set()
                wait_for(someone_waits_for_my_lock, timeout=30)  # commit once the page's insert waits on this one
        finally:
            connection.close()

    other = threading.Thread(target=other_approval)
    other.start()
    try:
        assert inserted.wait(30)
        client.force_login(office_admin)
        refused = client.post(f"/office/requests/{request.pk}/", {"decision": "approve", "reason": "同意"})
        other.join(30)
        assert refused.status_code == 400
        said = text_of(refused.content.decode(), 'id="problems"', "</div>")
        assert "编码“broadband_households”已被目录中的字段使用，请复用该字段" in said
        assert DataRequest.objects.get().status == RequestStatus.SUBMITTED
    finally:
        other.join(30)
        cleanup = threading.Thread(
            target=lambda: (Field.objects.filter(code="broadband_households").delete(), connection.close())
        )
        cleanup.start()
        cleanup.join(30)


def test_a_draft_whose_chosen_field_was_retired_shows_it_marked_and_saving_it_asks_to_choose_again(
    client, stats_user, stats_endpoint
):
    client.force_login(stats_user)
    wanted = Field.objects.get(code="left_behind_children")
    client.post("/department/requests/new/", {**REQUEST_FORM, "fields": [wanted.pk], "endpoint": stats_endpoint.pk})
    request = DataRequest.objects.get()
    detail = text_of(client.get(f"/department/requests/{request.pk}/").content.decode(), "<main", "</main>")
    assert "宽带入户户数 broadband_households · 整数 · 户 · 不能小于 0" in detail
    assert "推送到： 统计数据仓库" in detail
    Field.objects.filter(pk=wanted.pk).update(status="retired")
    page = client.get(f"/department/requests/{request.pk}/edit/").content.decode()
    form = form_of(page, "title")
    assert form["fields"] == [str(wanted.pk)] and "已停用" in text_of(page, "留守儿童", "</label>")
    refused = client.post(f"/department/requests/{request.pk}/edit/", form)
    assert refused.status_code == 400
    assert "所选的已有字段不存在或已停用" in text_of(refused.content.decode(), 'id="problems"', "</div>")
    assert list(DataRequest.objects.get().fields.all()) == [wanted]


def test_a_draft_proposing_into_a_sheet_retired_since_keeps_it_in_view_and_saving_asks_to_choose_again(
    client, stats_user
):
    client.force_login(stats_user)
    client.post("/department/requests/new/", {**REQUEST_FORM, "p0_sheet": "township_yearly"})
    request = DataRequest.objects.get()
    Sheet.objects.filter(code="township_yearly").update(status="retired")
    form = form_of(client.get(f"/department/requests/{request.pk}/edit/").content.decode(), "title")
    assert form["p0_sheet"] == ["township_yearly"]
    refused = client.post(f"/department/requests/{request.pk}/edit/", form)
    said = text_of(refused.content.decode(), 'id="problems"', "</div>")
    assert refused.status_code == 400 and "新增字段 1 · 表：该表不存在或已停用，请重新选择" in said
    assert DataRequest.objects.get().proposed[0]["sheet"] == "township_yearly"
