import datetime as dt

import pytest
import time_machine

from core.models import Area, Department, Unit
from reporting.catalogue.periods import Period
from reporting.filing.onetable import build_one_table
from reporting.models import DataRequest, Field, RequestStatus, Sheet, Subscription
from reporting.rejections import Problems
from reporting.services.requests import RequestInput, review_request, save_request, submit_request, withdraw_request
from reporting.subscriptions import review

TODAY = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
NEW_FIELD = {
    "code": "rural_broadband_households",
    "name_zh": "宽带入户户数",
    "name_en": "Households with broadband",
    "type": "integer",
    "constraints": {"min": 0},
    "unit_of_measure": "户",
    "sheet": "village_basics",
}


@pytest.fixture
def stats(demo) -> Department:
    return Department.objects.get(code="stats")


@pytest.fixture
def county(demo) -> Area:
    return Area.objects.get(code="360799000000")


def ask(stats, analyst, county, **changes) -> DataRequest:
    data = RequestInput(
        title="留守儿童统计",
        purpose="统计年报",
        legal_basis="《统计法》",
        scope=county,
        first_period="2027Q1",
        field_ids=[],
        proposed=[],
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return save_request(department=stats, by=analyst, data=data)


@pytest.fixture
def stats_analyst(demo):
    from core.models import User

    return User.objects.get(username="stats")


@time_machine.travel(TODAY, tick=False)
def test_a_request_for_existing_fields_becomes_a_subscription_and_data_flows_from_the_next_open_period(
    stats, stats_analyst, county, office_admin
):
    field = Field.objects.get(code="left_behind_children")
    request = ask(stats, stats_analyst, county, field_ids=[field.pk], first_period="2026Q4")
    submit_request(request=request, by=stats_analyst)
    review_request(request=request, by=office_admin, approve=True, reason="符合统计需要")
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.subscription.department == stats
    # 2026Q4 is already open for filing: the new demand starts with the next quarter, never retroactively
    assert request.subscription.starts_on == dt.date(2027, 1, 1)
    village = Unit.objects.get(area__name="东门村", area__parent__name="城关镇")
    sheet = Sheet.objects.get(code="civil_affairs")
    now = build_one_table(unit=village, sheet=sheet, period=Period.parse("2026Q4")).by_code()
    later = build_one_table(unit=village, sheet=sheet, period=Period.parse("2027Q1")).by_code()
    assert stats.pk not in now["left_behind_children"].department_ids
    assert stats.pk in later["left_behind_children"].department_ids
    assert [e.action for e in request.events.all()] == ["created", "submitted", "approved"]


def test_a_proposed_field_similar_to_an_existing_one_is_shown_with_its_match(demo):
    matches = review.overlaps(
        {"code": "hukou_population", "name_zh": "户籍人口数", "type": "integer", "unit_of_measure": "人"}
    )
    best = matches[0]
    assert best.field.code == "registered_population"
    assert "similar_name" in best.reasons and "same_unit_and_type" in best.reasons
    assert best.departments == ["青山县民政局", "青山县统计局"]
    same = review.overlaps({"code": "households", "name_zh": "农户数", "type": "integer"})
    assert "same_code" in next(m for m in same if m.field.code == "households").reasons


def test_a_rejected_request_changes_nothing(stats, stats_analyst, county, office_admin):
    before = (Subscription.objects.count(), Field.objects.count())
    request = ask(stats, stats_analyst, county, proposed=[NEW_FIELD])
    submit_request(request=request, by=stats_analyst)
    review_request(request=request, by=office_admin, approve=False, reason="已有字段可满足需要")
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED and request.decision_reason == "已有字段可满足需要"
    assert (Subscription.objects.count(), Field.objects.count()) == before
    with pytest.raises(Problems):
        review_request(request=request, by=office_admin, approve=True, reason="改变主意")


def test_approval_creates_proposed_fields_or_reuses_existing_ones(stats, stats_analyst, county, office_admin):
    duplicate = {**NEW_FIELD, "code": "hukou_population", "name_zh": "户籍人口数", "unit_of_measure": "人"}
    request = ask(stats, stats_analyst, county, proposed=[NEW_FIELD, duplicate])
    submit_request(request=request, by=stats_analyst)
    registered = Field.objects.get(code="registered_population")
    review_request(
        request=request,
        by=office_admin,
        approve=True,
        reason="复用户籍人口",
        create_codes=[NEW_FIELD["code"]],
        reuse={"hukou_population": registered.pk},
    )
    request.refresh_from_db()
    codes = set(request.subscription.fields.values_list("code", flat=True))
    assert codes == {"rural_broadband_households", "registered_population"}
    assert not Field.objects.filter(code="hukou_population").exists()
    assert request.status == RequestStatus.APPROVED


def test_approving_in_part_keeps_the_rest_out(stats, stats_analyst, county, office_admin):
    wanted = list(
        Field.objects.filter(code__in=["left_behind_children", "disabled_people"]).values_list("pk", flat=True)
    )
    request = ask(stats, stats_analyst, county, field_ids=wanted)
    submit_request(request=request, by=stats_analyst)
    review_request(request=request, by=office_admin, approve=True, reason="仅批准留守儿童", field_ids=wanted[:1])
    request.refresh_from_db()
    assert request.status == RequestStatus.PARTLY_APPROVED
    assert list(request.subscription.fields.values_list("pk", flat=True)) == wanted[:1]


@time_machine.travel(TODAY, tick=False)
def test_every_warning_fires_on_a_crafted_request(stats, stats_analyst, county):
    photos = {
        **NEW_FIELD,
        "code": "village_photos",
        "name_zh": "村容村貌照片",
        "name_en": "Village photos",
        "type": "text",
        "constraints": {},
    }
    checkins = {
        **NEW_FIELD,
        "code": "cadre_checkins",
        "name_zh": "干部签到次数",
        "name_en": "Cadre check-ins",
        "cadence": "weekly",
        "sheet": "township_monthly",
    }
    duplicate = {
        **NEW_FIELD,
        "code": "hukou_pop",
        "name_zh": "户籍人口",
        "name_en": "Registered population",
        "unit_of_measure": "人",
    }
    # the first period 202611 is due on 5 December: 13 days' notice on 22 November
    request = ask(stats, stats_analyst, county, proposed=[photos, checkins, duplicate], first_period="202611")
    found = {w.code: w for w in review.warnings(request)}
    assert set(found) == {"media", "check_in", "cadence", "short_notice", "duplicate"}
    assert "photos, screenshots" in found["media"].en and "照片" in found["media"].zh
    assert "only 13 days (at least 15)" in found["short_notice"].en


@time_machine.travel(TODAY, tick=False)
def test_a_plain_request_with_enough_notice_has_no_warnings(stats, stats_analyst, county):
    request = ask(stats, stats_analyst, county, proposed=[NEW_FIELD], first_period="2027Q1")
    assert review.warnings(request) == []


def test_the_burden_counts_only_what_is_newly_asked(stats, stats_analyst, county):
    shared = Field.objects.get(code="left_behind_children")  # civil affairs already asks every village for it
    request = ask(stats, stats_analyst, county, field_ids=[shared.pk], proposed=[NEW_FIELD])
    figures = review.burden(request)
    assert figures.units == 150
    assert figures.values_per_year == 150 * 4 * 2
    assert figures.added_values_per_year == 150 * 4  # only the new field adds work
    assert figures.minutes_per_year == 150 * 4 * 8 // 60


def test_bad_requests_name_every_problem_and_store_nothing(stats, stats_analyst, demo):
    province = Area.objects.get(code="360000000000")
    with pytest.raises(Problems) as caught:
        ask(
            stats,
            stats_analyst,
            province,
            title=" ",
            first_period="2027-13",
            proposed=[{**NEW_FIELD, "code": "households", "type": "money"}],
        )
    fields = {p.field: p for p in caught.value.problems}
    assert {"title", "scope", "first_period", "proposed[0].code", "type"} <= set(fields)
    assert fields["scope"].message_en == "the scope must lie inside the department's jurisdiction"
    assert "reuse that field" in fields["proposed[0].code"].message_en
    assert not DataRequest.objects.exists()


def test_a_submitted_request_can_no_longer_be_edited_but_can_be_withdrawn(stats, stats_analyst, county):
    request = ask(stats, stats_analyst, county, proposed=[NEW_FIELD])
    submit_request(request=request, by=stats_analyst)
    with pytest.raises(Problems):
        save_request(
            department=stats,
            by=stats_analyst,
            request=request,
            data=RequestInput(
                title="x", purpose="y", legal_basis="z", scope=county, first_period="2027Q1", proposed=[NEW_FIELD]
            ),
        )
    withdraw_request(request=request, by=stats_analyst)
    assert DataRequest.objects.get(pk=request.pk).status == RequestStatus.WITHDRAWN


def test_the_office_may_reuse_only_a_field_the_review_offered_for_the_proposal(
    stats, stats_analyst, county, office_admin
):
    # given a quarterly whole-number proposal and a date field of a ledger whose name matches it exactly
    dated = Field.objects.filter(type="date", sheet__cadence="ledger").select_related("sheet").first()
    proposal = {**NEW_FIELD, "code": "event_day_count", "name_zh": dated.name_zh}
    assert dated.pk in {m.field.pk for m in review.overlaps(proposal)}  # shown as an overlap…
    assert dated.pk not in {m.field.pk for m in review.overlaps(proposal) if m.reusable}  # …but not to reuse
    request = ask(stats, stats_analyst, county, proposed=[proposal])
    submit_request(request=request, by=stats_analyst)
    before = Subscription.objects.count()
    with pytest.raises(Problems) as refused:
        review_request(
            request=request,
            by=office_admin,
            approve=True,
            reason="复用",
            create_codes=[],
            reuse={"event_day_count": dated.pk},
        )
    problem = refused.value.problems[0]
    assert problem.field == "proposal_event_day_count" and problem.rule == "request.reuse_unfit"
    assert problem.message_zh.startswith(
        f"新增字段“{dated.name_zh}”：所选的已有字段不是审核页为该新增字段列出的可复用字段"
    )
    assert "not one the review offered to reuse" in problem.message_en
    assert Subscription.objects.count() == before
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED


YEARLY_FIELD = {**NEW_FIELD, "code": "township_wells", "name_zh": "乡镇水井数", "unit_of_measure": "口"}
YEARLY_FIELD["sheet"] = "township_yearly"


def test_the_units_asked_count_every_level_a_request_spans(stats, stats_analyst, county):
    request = ask(stats, stats_analyst, county, proposed=[NEW_FIELD, YEARLY_FIELD])
    assert review.burden(request).units == 150 + 12  # the villages and the townships, each once


def test_typing_under_an_hour_a_year_is_shown_in_minutes(stats, stats_analyst, county, office_admin, client):
    request = ask(stats, stats_analyst, county, proposed=[YEARLY_FIELD])
    submit_request(request=request, by=stats_analyst)
    figures = review.burden(request)
    assert figures.added_values_per_year == 12 and figures.minutes_per_year == 2  # 12 whole numbers, 8 s each
    client.force_login(office_admin)
    html = client.get(f"/office/requests/{request.pk}/").content.decode()
    assert '2<span class="unit">分钟</span>' in html and '0.0<span class="unit">小时</span>' not in html
