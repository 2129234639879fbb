"""The living catalogue: definitions from a named period, retirement, zombies and the closure log."""

import datetime as dt

import pytest
from django.db import connection

from core.models import Department
from reporting.catalogue.periods import Period
from reporting.filing.onetable import build_one_table
from reporting.models import (
    AccessKind,
    ClosureLog,
    Delivery,
    Field,
    Notice,
    Sheet,
    Subscription,
    SubscriptionStatus,
    ZombieFlag,
    ZombieKind,
)
from reporting.rejections import Problem, Problems
from reporting.services.catalogue import change_definition, confirm_subscription, retire_field, zombie_check
from reporting.services.relay import relay_versions
from tests.reporting.helpers import file_village_basics

TODAY = dt.date(2026, 11, 22)


def table(unit, code, period):
    return build_one_table(unit=unit, sheet=Sheet.objects.get(code=code), period=Period.parse(period))


def test_a_definition_change_applies_from_its_period_only(village_cadre, office_admin):
    squares = Field.objects.get(code="culture_squares")
    change_definition(
        field=squares,
        period=Period.parse("2027Q1"),
        changes={"constraints": {"min": 0, "max": 10}},
        reason="文化广场按新口径统计",
        by=office_admin,
        today=TODAY,
    )
    now = table(village_cadre.unit, "village_basics", "2026Q4").by_code()["culture_squares"].field
    later = table(village_cadre.unit, "village_basics", "2027Q1").by_code()["culture_squares"].field
    assert now.parse("50") == 50  # 2026Q4 keeps the definition it is filed under
    with pytest.raises(Exception) as caught:
        later.parse("50")
    assert "不能大于 10" in str(caught.value)
    history = list(squares.revisions.values_list("period", "constraints"))
    assert history == [("", {"min": 0, "max": 100}), ("2027Q1", {"min": 0, "max": 10})]


def test_a_definition_change_cannot_reach_back_into_a_running_period(office_admin, demo):
    with pytest.raises(Problems) as caught:
        change_definition(
            field=Field.objects.get(code="culture_squares"),
            period=Period.parse("2026Q4"),
            changes={"constraints": {"max": 5}},
            reason="x",
            by=office_admin,
            today=TODAY,
        )
    assert caught.value.problems[0].message_en == (
        "a definition change can only apply from a period not yet begun (at the earliest 2027Q1)"
    )


def test_a_retired_field_leaves_the_next_open_period_but_old_submissions_still_show_it(
    client, village_cadre, office_admin
):
    version = file_village_basics(village_cadre)
    books = Field.objects.get(code="library_books")
    day = retire_field(field=books, reason="农家书屋改由图书馆系统统计", by=office_admin, today=TODAY)
    assert day == dt.date(2027, 1, 1)
    assert "library_books" in table(village_cadre.unit, "village_basics", "2026Q4").by_code()
    assert "library_books" not in table(village_cadre.unit, "village_basics", "2027Q1").by_code()
    client.force_login(village_cadre)
    assert "农家书屋藏书" in client.get(f"/submissions/{version.submission_id}/").content.decode()
    assert Notice.objects.filter(department__code="culture", text_zh__contains="农家书屋藏书").exists()
    assert ClosureLog.objects.filter(kind="field", label__contains="library_books").exists()


def test_a_subscription_nobody_uses_is_flagged_then_ended_after_the_grace_period(demo, settings):
    settings.ONETABLE_ZOMBIE_MONTHS, settings.ONETABLE_ZOMBIE_GRACE_DAYS = 3, 30
    stats = Subscription.objects.get(department__code="stats")
    assert zombie_check(today=TODAY)["idle"] == 4  # nobody received or read anything in the demo
    flag = ZombieFlag.objects.get(subscription=stats)
    assert flag.grace_until == TODAY + dt.timedelta(days=30)
    assert Notice.objects.filter(department__code="stats", text_en__contains="confirm it with a reason").exists()
    assert zombie_check(today=TODAY + dt.timedelta(days=10))["idle"] == 0  # flagged once, not every day
    zombie_check(today=TODAY + dt.timedelta(days=31))
    assert Subscription.objects.get(pk=stats.pk).status == SubscriptionStatus.ENDED
    entry = ClosureLog.objects.get(kind="subscription", object_id=stats.pk)
    assert entry.rule == "idle_subscription" and entry.by is None and "grace period" in entry.reason


def test_a_confirmed_subscription_is_kept(demo, stats_user):
    zombie_check(today=TODAY)
    flag = ZombieFlag.objects.get(subscription__department__code="stats")
    confirm_subscription(flag=flag, by=stats_user, reason="年报 3 月才开始使用")
    zombie_check(today=TODAY + dt.timedelta(days=31))
    assert Subscription.objects.get(department__code="stats").status == SubscriptionStatus.ACTIVE
    assert not ClosureLog.objects.filter(kind="subscription", label__contains="统计局").exists()


def test_a_subscription_that_is_used_is_not_flagged(demo, village_cadre):
    from reporting.reads.accesslog import write_access_records

    culture = Subscription.objects.get(department__code="culture")
    write_access_records(
        [
            (
                village_cadre.unit_id,
                culture.department_id,
                culture.pk,
                None,
                Sheet.objects.get(code="village_basics").pk,
                "2026Q3",
                ["library_books"],
            )
        ],
        AccessKind.PULLED,
    )
    zombie_check(today=TODAY)
    assert not ZombieFlag.objects.filter(subscription=culture).exists()


def test_expired_subscriptions_end_and_unused_fields_and_empty_sheets_are_flagged(demo):
    civil = Department.objects.get(code="civil")
    Subscription.objects.filter(department=civil).update(expires_on=dt.date(2026, 10, 31))
    found = zombie_check(today=TODAY)
    assert found["expired"] == 1
    assert ClosureLog.objects.get(kind="subscription").rule == "expired"
    unused = set(ZombieFlag.objects.filter(kind=ZombieKind.UNUSED_FIELD).values_list("field__code", flat=True))
    assert {"village_type", "grid_workers", "dibao_households"} <= unused  # civil's fields are now unused too
    Field.objects.filter(sheet__code="civil_affairs").update(status="retired")
    assert zombie_check(today=TODAY)["empty_sheets"] == 1
    assert ZombieFlag.objects.get(kind=ZombieKind.EMPTY_SHEET).sheet.code == "civil_affairs"


def test_the_closure_log_is_public(client, demo, office_admin):
    retire_field(field=Field.objects.get(code="grid_workers"), reason="无部门使用", by=office_admin, today=TODAY)
    html = client.get("/closures/").content.decode()
    assert "网格员人数" in html and "无部门使用" in html


def test_a_cached_one_table_follows_a_definition_change_and_keeps_the_old_one_for_earlier_periods(
    village_cadre, office_admin
):
    # both periods read (and cached) before the change, then again after it, in that order and the reverse
    for period in ("2027Q1", "2026Q4"):
        assert table(village_cadre.unit, "village_basics", period).by_code()["culture_squares"].field.parse("50") == 50
    change_definition(
        field=Field.objects.get(code="culture_squares"),
        period=Period.parse("2027Q1"),
        changes={"constraints": {"min": 0, "max": 10}},
        reason="文化广场按新口径统计",
        by=office_admin,
        today=TODAY,
    )
    later = table(village_cadre.unit, "village_basics", "2027Q1").by_code()["culture_squares"].field
    now = table(village_cadre.unit, "village_basics", "2026Q4").by_code()["culture_squares"].field
    with pytest.raises(Problem):
        later.parse("50")
    assert now.parse("50") == 50  # 2026Q4 keeps the definition it is filed under


def test_a_cached_one_table_follows_a_bulk_update_that_sends_no_signals(village_cadre):
    before = table(village_cadre.unit, "village_basics", "2026Q4").by_code()["resident_population"].department_ids
    assert Department.objects.get(code="civil").pk in before
    Subscription.objects.filter(department__code="civil").update(status=SubscriptionStatus.ENDED)  # no save()
    after = table(village_cadre.unit, "village_basics", "2026Q4").by_code()["resident_population"].department_ids
    assert after == before - {Department.objects.get(code="civil").pk}
    with connection.cursor() as cursor:  # raw SQL, as a migration or an operator would write it
        cursor.execute(
            "UPDATE reporting_subscription SET status = 'active' WHERE department_id = %s",
            [Department.objects.get(code="civil").pk],
        )
    assert table(village_cadre.unit, "village_basics", "2026Q4").by_code()["resident_population"].department_ids == (
        before
    )


def test_a_filing_goes_out_to_the_subscriptions_as_they_are_now_not_as_cached(village_cadre):
    """The relay's rows follow the subscriptions' fields as they are: a change by raw SQL reaches them at once."""
    table(village_cadre.unit, "village_basics", "2026Q4")  # the catalogue is read and cached
    field = Field.objects.get(code="resident_population")
    civil = Department.objects.get(code="civil")
    with connection.cursor() as cursor:  # civil affairs stops taking a field other departments still take
        cursor.execute(
            "DELETE FROM reporting_subscription_fields WHERE field_id = %s AND subscription_id IN "
            "(SELECT id FROM reporting_subscription WHERE department_id = %s)",
            [field.pk, civil.pk],
        )
    version = file_village_basics(village_cadre)
    relay_versions()
    rows = {d.subscription_id: d for d in Delivery.objects.filter(version=version)}
    taken = Subscription.fields.through.objects.filter(subscription_id__in=rows, field__sheet__code="village_basics")
    expected: dict[int, set[str]] = {}
    for subscription_id, code in taken.values_list("subscription_id", "field__code"):
        expected.setdefault(subscription_id, set()).add(code)
    assert {pk: sorted(codes & set(version.values)) for pk, codes in expected.items()} == {
        pk: d.fields for pk, d in rows.items()
    }
    assert civil.pk in {d.department_id for d in rows.values()}
    assert all("resident_population" not in d.fields for d in rows.values() if d.department_id == civil.pk)
    assert any("resident_population" in d.fields for d in rows.values() if d.department_id != civil.pk)
    # and every active subscription covering the village that takes an answered field has its row
    covering = Subscription.objects.filter(
        status=SubscriptionStatus.ACTIVE,
        fields__code__in=list(version.values),
        scope__code__in=village_cadre.unit.area.lineage_codes(),
    ).distinct()
    assert set(covering.values_list("pk", flat=True)) == set(rows)


def test_a_field_definition_change_that_changes_nothing_is_refused_by_name(office_admin, demo):
    squares = Field.objects.get(code="culture_squares")
    with pytest.raises(Problems) as caught:
        change_definition(
            field=squares,
            period=Period.parse("2027Q1"),
            changes={"constraints": squares.constraints},
            reason="x",
            by=office_admin,
            today=TODAY,
        )
    (problem,) = caught.value.problems
    assert problem.rule == "definition.unchanged" and "nothing changed" in problem.message_en
    assert "没有任何改动" in problem.message_zh and not squares.revisions.exists()


def test_a_field_revision_from_a_later_period_is_shown_as_scheduled_not_as_in_force(
    office_admin, culture_analyst, client
):
    from tests.reporting.helpers import token_client

    squares = Field.objects.get(code="culture_squares")
    before = squares.constraints
    change_definition(
        field=squares,
        period=Period.parse("2027Q1"),
        changes={"constraints": {"min": 0, "max": 10}},
        reason="新口径",
        by=office_admin,
        today=TODAY,
    )
    body = token_client(culture_analyst).get("/api/v1/catalogue").json()
    (item,) = [f for s in body["sheets"] for f in s["fields"] if f["code"] == "culture_squares"]
    assert item["constraints"] == before
    (later,) = item["scheduled"]
    assert (later["from_period"], later["constraints"]) == ("2027Q1", {"min": 0, "max": 10})
    client.force_login(office_admin)
    page = client.get("/office/catalogue/").content.decode()
    row = page[page.index('data-field="culture_squares"') :]
    in_force = row[row.index('class="in-force"') : row.index("</span>", row.index('class="in-force"'))]
    assert in_force.endswith(" · ".join(squares.rules))  # the rules in force today (0 至 100), not 0 至 10
