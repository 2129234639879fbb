"""Every state change is a service that leaves an audit event: the services are walked, not listed by hand.

Each public function of a service module (reporting/services/*.py, core/tokens.py) is declared either
`@audited(actions…)` or `@unaudited(why)` / `@read_only` (core/audit.py). For every declared action a scenario
below calls its service the way the pages do and finds the event afterwards; an undeclared function, an
action without a scenario, or a scenario that leaves no event fails here.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import io
import json
import pkgutil
from collections.abc import Callable
from types import ModuleType

import pytest
from django.utils import timezone

import reporting.services
from core.audit import AUDITED, NOT_AUDITED
from core.models import AuditEvent, Department
from core.tokens import department_system_user, issue_token, revoke_token
from reporting.catalogue.periods import Period
from reporting.models import AllowedNetwork, Delivery, DeliveryStatus, Endpoint, Field, Sheet, Subscription, ZombieFlag
from reporting.services import (
    calendar,
    catalogue,
    deliveries,
    disputes,
    endpoints,
    exports,
    indicators,
    partitions,
    questions,
    requests,
    rules,
    submissions,
    supplies,
    suppression,
)
from reporting.services.relay import relay_versions
from tests.conftest import _user
from tests.reporting.helpers import ACTIVITY, VILLAGE_BASICS_Q4

TODAY = dt.date(2026, 11, 22)


def service_modules() -> list[ModuleType]:
    """Every module in reporting/services (a new one is walked too) and core's token services."""
    names = [f"reporting.services.{m.name}" for m in pkgutil.iter_modules(reporting.services.__path__)]
    return [importlib.import_module(name) for name in [*names, "core.tokens"]]


def public_functions(module: ModuleType) -> dict[str, Callable]:
    return {
        f"{module.__name__}.{name}": value
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
    }


def test_it_declares_every_public_service_function_audited_or_not():
    undeclared = [
        name
        for module in service_modules()
        for name in public_functions(module)
        if name not in AUDITED and name not in NOT_AUDITED
    ]
    assert undeclared == [], "declare these @audited(...) or @unaudited(why) / @read_only in core.audit"


def test_it_takes_the_arguments_of_every_audited_service_by_keyword():
    functions = {name: f for module in service_modules() for name, f in public_functions(module).items()}
    positional = [
        name
        for name in AUDITED
        if any(p.kind != p.KEYWORD_ONLY for p in inspect.signature(functions[name]).parameters.values())
    ]
    assert positional == []


# One scenario per (service, action); a scenario that hands out a secret returns it: it must not be in the event.


def _analyst(username="propaganda"):
    return _user(username)


def _office():
    return _user("office")


def _cadre():
    return _user("village")


def _request(**changes):
    from core.models import Area
    from reporting.services.requests import RequestInput, save_request

    data = RequestInput(
        title="留守儿童统计",
        purpose="统计年报",
        legal_basis="《统计法》",
        scope=Area.objects.get(code="360799000000"),
        first_period="2027Q1",
        field_ids=[Field.objects.get(code="households").pk],
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return save_request(department=Department.objects.get(code="stats"), by=_analyst("stats"), data=data)


def _submitted_request():
    request = _request()
    return requests.submit_request(request=request, by=_analyst("stats"))


def _endpoint(department="propaganda") -> Endpoint:
    department = Department.objects.get(code=department)
    endpoint = deliveries.create_endpoint(
        endpoint=Endpoint(department=department, name="sys", url="http://127.0.0.1:9/"), by=_analyst()
    )
    Subscription.objects.filter(department=department).update(endpoint=endpoint)
    return endpoint


def _retention():
    from tests.reporting.test_access_partitions import at, write_record

    partitions.create_partitions(today=dt.date(2025, 1, 10))
    write_record(_cadre().unit_id, at("2025-01-11"))
    return partitions.detach_access_records(months=6, today=TODAY)


def _civil_source():
    civil = Department.objects.get(code="civil")
    Field.objects.filter(code="dibao_people").update(source=civil)
    village = _cadre().unit.area.code
    return civil, _user("civil"), f"unit,period,field,value\n{village},2026Q4,dibao_people,7\n"


def _supply():
    from reporting.filing.supply_readers import rows_of

    civil, user, body = _civil_source()
    return supplies.supply_values(
        department=civil, rows=rows_of("csv", io.BytesIO(body.encode())), by=user, today=TODAY
    )


def _supply_job():
    civil, user, body = _civil_source()
    return supplies.start_supply_job(
        department=civil, by=user, format="csv", body=io.BytesIO(body.encode()), options={"atomic": True}
    )


def _interrupted_supply_job():
    """A running job whose worker died (its lock is free) on its last attempt: the sweep ends it."""
    job = _supply_job()
    job.status, job.attempts = "running", supplies.SUPPLY_ATTEMPTS
    job.save(update_fields=["status", "attempts"])
    return supplies.sweep_supply_jobs()


def _submit():
    return submissions.submit_sheet(
        unit=_cadre().unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw=VILLAGE_BASICS_Q4,
        not_applicable={},
        by=_cadre(),
    )


def _partly(settings):
    asked = list(Field.objects.filter(code__in=["households", "volunteers"]).values_list("pk", flat=True))
    request = requests.submit_request(request=_request(field_ids=asked), by=_analyst("stats"))
    requests.review_request(request=request, by=_office(), approve=True, reason="部分同意", field_ids=asked[:1])


def _flags(settings):
    settings.ONETABLE_ZOMBIE_MONTHS, settings.ONETABLE_ZOMBIE_GRACE_DAYS = 3, 30
    catalogue.zombie_check(today=TODAY)
    return ZombieFlag.objects.filter(subscription__department__code="stats").first()


def _replay(settings):
    endpoint = _endpoint()
    submissions.add_record(
        unit=_cadre().unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        raw=ACTIVITY,
        not_applicable={},
        by=_cadre(),
    )
    relay_versions()
    Delivery.objects.filter(endpoint=endpoint).update(status=DeliveryStatus.DEAD)
    department = endpoint.department
    assert deliveries.replay(department=department, deliveries=Delivery.objects.all(), by=_analyst()) >= 1


def _rotate(settings):
    endpoint = _endpoint()
    new = deliveries.rotate_secret(endpoint=endpoint, by=_analyst())
    return [new, endpoint.secret]


def _add_endpoint(settings):
    AllowedNetwork.objects.create(cidr="127.0.0.1/32")
    added = endpoints.add_endpoint(
        department=Department.objects.get(code="propaganda"), name="sys", url="http://127.0.0.1:9/", by=_analyst()
    )
    return [added.secret, added.secret[-12:]]


def _rotate_on_the_page(settings):
    endpoint = _endpoint()
    rotated = endpoints.rotate_endpoint_secret(endpoint=endpoint, by=_analyst())
    return [rotated.secret, rotated.secret[-12:]]


def _issue(settings):
    _row, token = issue_token(
        user=department_system_user(department=Department.objects.get(code="culture")), name="t", by=_analyst("culture")
    )
    return [token, token[:10]]


def _revoke(settings):
    row, token = issue_token(user=department_system_user(department=Department.objects.get(code="culture")), name="t")
    revoke_token(token=row, by=_analyst("culture"))
    return [token]


def _new_department_account(settings):
    from core.models import Area

    department = Department.objects.create(code="water", name="水利局", jurisdiction=Area.objects.get(parent=None))
    department_system_user(department=department)


def _export(settings):
    exports.request_export(
        department=Department.objects.get(code="culture"),
        by=_analyst("culture"),
        format="csv",
        params={"sheet": "village_basics", "fields": None, "period_from": None, "period_to": None, "area": None},
    )


def _interrupted_export(settings):
    """A running export whose worker died (its lock is free) on its last attempt: the sweep ends it."""
    from reporting import jobs
    from reporting.models import ExportJob

    _export(settings)
    ExportJob.objects.update(status="running", attempts=jobs.ATTEMPTS)
    return exports.sweep_export_jobs()


def _interrupted_report():
    """A running report job whose worker died (its lock is free) on its last attempt: the sweep ends it."""
    from reporting import jobs
    from reporting.models import ReportJob
    from reporting.services import reports

    _request_report()
    ReportJob.objects.update(status="running", attempts=jobs.ATTEMPTS)
    return reports.sweep_report_jobs()


RULE = {
    "code": "elderly_within_population",
    "sheet": "village_basics",
    "left": "elderly_over_60",
    "operator": "<=",
    "right": "registered_population",
    "strategy": "NEVER_SKIP",
    "importance": "warning",
    "message_zh": "60岁以上人口不能多于户籍人口",
    "message_en": "people over 60 cannot outnumber the registered population",
}


def _rule():
    return rules.define_rule(office=_office().office, definition=RULE, by=_office())


def _requested_rules():
    request = _request(proposed_rules=[{**RULE, "code": "requested_rule"}])
    request = requests.submit_request(request=request, by=_analyst("stats"))
    return requests.review_request(request=request, by=_office(), approve=True, reason="同意")


def _indicator():
    office = _office()
    return indicators.define_indicator(
        office=office.office,
        code="people_per_household",
        name_zh="户均常住人口",
        name_en="Residents per household",
        formula="resident_population / households",
        rollup="ratio_of_sums",
        by=office,
    )


def _retired_indicator():
    indicator = _indicator()
    indicators.retire_indicator(indicator=indicator, reason="不再使用", by=_office(), today=TODAY)
    indicator.refresh_from_db()
    return indicator


def _expired(settings):
    Subscription.objects.filter(department__code="civil").update(expires_on=dt.date(2026, 10, 31))
    catalogue.zombie_check(today=TODAY)


def _answer_dispute(settings):
    from tests.sources.test_disputes import open_dispute  # a real supply, a unit filing and its dispute

    return disputes.answer_dispute(dispute=open_dispute(_cadre()), by=_analyst("civil"), answer="以户籍登记为准")


def _unlock(settings):
    calendar.set_due_rules(days={}, locks={"quarterly": 20}, by=_office())  # a lock to lift
    return calendar.unlock_period(
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.containing(timezone.localdate(), "quarterly").shift(-2),
        reason="late_first",
        note="网络中断，逾期补报",
        unit=_cadre().unit,
        by=_office(),
    )


def _withdraw_unlock(settings):
    return calendar.withdraw_unlock(unlock=_unlock(settings), note="已补报完毕，提前收回", by=_office())


def _question():
    filed = _submit()
    civil = _analyst("civil")
    return questions.ask_question(
        department=civil.department,
        submission=filed.submission,
        field="households",
        version=1,
        text="是否有误？",
        by=civil,
    )


def _answer_question(settings):
    return questions.answer_question(question=_question(), unit=_cadre().unit, by=_cadre(), explanation="新建小区入住")


def _report_template():
    from tests.rollups.test_report_templates import _api_template

    return _api_template(_analyst("culture"))


def _map_report():
    from reporting.services import reports

    template = _report_template()
    cells = list(template.cells.select_related("area"))
    return reports.map_cells(
        template=template,
        by=_analyst("culture"),
        mapping={c.pk: (c.choice, c.area.code if c.area else "") for c in cells},
    )


def _request_report():
    from core.models import Area
    from reporting.services import reports

    return reports.request_report(
        template=_report_template(), by=_analyst("culture"), period="2026Q3", area=Area.objects.get(code="360799000000")
    )


def _auto_report():
    from reporting.services import reports

    template = _report_template()
    template.auto_coverage = 90
    template.save()
    return reports.auto_generate(today=dt.date(2026, 10, 5))


def _draft_report_request():
    from reporting.services import reports
    from tests.rollups.test_report_templates import _upload, legacy_report

    analyst = _analyst("culture")
    template = _upload(analyst, legacy_report(["青山镇"], extra_column="低保人数（人）"))
    return reports.draft_request(template=template, by=analyst)


C, D = "reporting.services.catalogue", "reporting.services.deliveries"
R, S = "reporting.services.requests", "reporting.services.submissions"
SCENARIOS: dict[tuple[str, str], Callable] = {
    (f"{C}.change_definition", "field.definition_changed"): lambda settings: catalogue.change_definition(
        field=Field.objects.get(code="culture_squares"),
        period=Period.parse("2027Q1"),
        changes={"constraints": {"min": 0, "max": 10}},
        reason="新口径",
        by=_office(),
        today=TODAY,
    ),
    (f"{C}.set_rollup", "field.rollup_changed"): lambda settings: catalogue.set_rollup(
        field=Field.objects.get(code="resident_population"), aggregation="mean", by=_office()
    ),
    (f"{C}.retire_field", "field.retired"): lambda settings: catalogue.retire_field(
        field=Field.objects.get(code="library_books"), reason="改由图书馆系统统计", by=_office(), today=TODAY
    ),
    ("reporting.services.indicators.define_indicator", "indicator.defined"): lambda settings: _indicator(),
    ("reporting.services.indicators.revise_indicator", "indicator.revised"): lambda settings: (
        indicators.revise_indicator(
            indicator=_indicator(),
            period=Period.parse("2027Q2"),
            changes={"formula": "households / 2"},
            reason="新口径",
            by=_office(),
            today=TODAY,
        )
    ),
    ("reporting.services.indicators.retire_indicator", "indicator.retired"): lambda settings: (
        indicators.retire_indicator(indicator=_indicator(), reason="不再使用", by=_office(), today=TODAY)
    ),
    ("reporting.services.suppression.set_threshold", "suppression.threshold_set"): lambda settings: (
        suppression.set_threshold(
            units=5, effective_from=dt.date(2027, 1, 1), reason="乡镇规模小", by=_office(), today=TODAY
        )
    ),
    ("reporting.services.indicators.reinstate_indicator", "indicator.reinstated"): lambda settings: (
        indicators.reinstate_indicator(indicator=_retired_indicator(), reason="恢复", by=_office())
    ),
    (f"{C}.retire_sheet", "sheet.retired"): lambda settings: catalogue.retire_sheet(
        sheet=Sheet.objects.get(code="civil_affairs"), reason="并入", by=_office()
    ),
    (f"{C}.end_subscription", "subscription.ended"): lambda settings: catalogue.end_subscription(
        subscription=Subscription.objects.get(department__code="stats"), reason="不再需要", by=_analyst("stats")
    ),
    (f"{C}.confirm_subscription", "zombie_flag.confirmed"): lambda settings: catalogue.confirm_subscription(
        flag=_flags(settings), by=_analyst("stats"), reason="年报 3 月才开始使用"
    ),
    (f"{C}.zombie_check", "zombie_flag.raised"): _flags,
    (f"{C}.zombie_check", "subscription.ended"): _expired,
    ("reporting.services.calendar.set_due_rules", "calendar.rule_set"): lambda settings: calendar.set_due_rules(
        days={"quarterly": 12}, by=_office()
    ),
    ("reporting.services.calendar.set_due_exception", "calendar.exception_set"): (
        lambda settings: calendar.set_due_exception(
            sheet=Sheet.objects.get(code="village_basics"),
            period=Period.parse("2026Q4"),
            due_on=dt.date(2027, 1, 20),
            reason="春节",
            by=_office(),
        )
    ),
    (f"{D}.create_endpoint", "endpoint.created"): lambda settings: _endpoint(),
    (f"{D}.set_endpoint_active", "endpoint.paused"): lambda settings: deliveries.set_endpoint_active(
        endpoint=_endpoint(), active=False, by=_analyst()
    ),
    (f"{D}.set_endpoint_active", "endpoint.resumed"): lambda settings: deliveries.set_endpoint_active(
        endpoint=_endpoint(), active=True, by=_analyst()
    ),
    (f"{D}.rotate_secret", "endpoint.secret_rotated"): _rotate,
    ("reporting.services.endpoints.add_endpoint", "endpoint.created"): _add_endpoint,
    ("reporting.services.endpoints.rotate_endpoint_secret", "endpoint.secret_rotated"): _rotate_on_the_page,
    (f"{D}.replay", "deliveries.replayed"): _replay,
    ("reporting.services.exports.request_export", "export.requested"): _export,
    ("reporting.services.exports.sweep_export_jobs", "export.interrupted"): _interrupted_export,
    (f"{R}.save_request", "request.created"): lambda settings: _request(),
    (f"{R}.save_request", "request.edited"): lambda settings: requests.save_request(
        department=Department.objects.get(code="stats"),
        by=_analyst("stats"),
        data=requests.RequestInput(
            title="留守儿童统计（修订）",
            purpose="统计年报",
            legal_basis="《统计法》",
            scope=_request().scope,
            first_period="2027Q1",
            field_ids=[Field.objects.get(code="households").pk],
        ),
        request=_request(),
    ),
    (f"{R}.submit_request", "request.submitted"): lambda settings: _submitted_request(),
    (f"{R}.withdraw_request", "request.withdrawn"): lambda settings: requests.withdraw_request(
        request=_request(), by=_analyst("stats")
    ),
    (f"{R}.review_request", "request.approved"): lambda settings: requests.review_request(
        request=_submitted_request(), by=_office(), approve=True, reason="同意"
    ),
    (f"{R}.review_request", "request.partly_approved"): _partly,
    (f"{R}.review_request", "request.rejected"): lambda settings: requests.review_request(
        request=_submitted_request(), by=_office(), approve=False, reason="依据不足"
    ),
    (f"{S}.save_draft", "draft.saved"): lambda settings: submissions.save_draft(
        unit=_cadre().unit,
        sheet=Sheet.objects.get(code="village_basics"),
        period=Period.parse("2026Q4"),
        raw={"values": {"households": "abc"}},
        by=_cadre(),
    ),
    (f"{S}.submit_sheet", "submission.submitted"): lambda settings: _submit(),
    (f"{S}.add_record", "record.added"): lambda settings: submissions.add_record(
        unit=_cadre().unit,
        sheet=Sheet.objects.get(code="cultural_activity"),
        raw=ACTIVITY,
        not_applicable={},
        by=_cadre(),
    ),
    (f"{S}.correct_submission", "submission.corrected"): lambda settings: submissions.correct_submission(
        submission=_submit().submission,
        raw={**VILLAGE_BASICS_Q4, "households": "620"},
        not_applicable={},
        reason="户数有误",
        by=_cadre(),
        expected_version=1,
    ),
    ("reporting.services.disputes.answer_dispute", "dispute.answered"): _answer_dispute,
    ("reporting.services.calendar.unlock_period", "period.unlocked"): _unlock,
    ("reporting.services.calendar.withdraw_unlock", "period.unlock_withdrawn"): _withdraw_unlock,
    ("reporting.services.questions.ask_question", "question.asked"): lambda settings: _question(),
    ("reporting.services.questions.answer_question", "question.answered"): _answer_question,
    ("reporting.services.supplies.supply_values", "register.supplied"): lambda settings: _supply(),
    ("reporting.services.supplies.start_supply_job", "supply.queued"): lambda settings: _supply_job(),
    ("reporting.services.supplies.sweep_supply_jobs", "supply.interrupted"): lambda settings: _interrupted_supply_job(),
    ("reporting.services.reports.upload_template", "report.uploaded"): lambda settings: _report_template(),
    ("reporting.services.reports.map_cells", "report.mapped"): lambda settings: _map_report(),
    ("reporting.services.reports.request_report", "report.requested"): lambda settings: _request_report(),
    ("reporting.services.reports.sweep_report_jobs", "report.interrupted"): lambda settings: _interrupted_report(),
    ("reporting.services.reports.auto_generate", "report.auto_requested"): lambda settings: _auto_report(),
    ("reporting.services.reports.draft_request", "request.created"): lambda settings: _draft_report_request(),
    ("reporting.services.rules.define_rule", "rule.defined"): lambda settings: _rule(),
    ("reporting.services.rules.define_requested_rules", "rule.defined"): lambda settings: _requested_rules(),
    ("reporting.services.rules.retire_rule", "rule.retired"): lambda settings: rules.retire_rule(
        rule=_rule(), reason="不再需要", by=_office(), today=TODAY
    ),
    ("reporting.services.rules.set_plausibility", "plausibility.set"): lambda settings: rules.set_plausibility(
        threshold="4.0", enabled=True, by=_office()
    ),
    ("reporting.services.rules.set_expected_range", "plausibility.range_set"): lambda settings: (
        rules.set_expected_range(field=Field.objects.get(code="households"), low="100", high="900", by=_office())
    ),
    ("reporting.services.partitions.detach_access_records", "access_records.detached"): lambda settings: _retention(),
    ("core.tokens.issue_token", "token.issued"): _issue,
    ("core.tokens.revoke_token", "token.revoked"): _revoke,
    ("core.tokens.department_system_user", "user.created"): _new_department_account,
}


service_modules()  # every service module imported, whichever tests ran before: all their declarations are in AUDITED
DECLARED = sorted((name, action) for name, actions in AUDITED.items() for action in actions)


def test_it_has_a_scenario_for_every_declared_audit_action():
    assert sorted(SCENARIOS) == DECLARED


@pytest.mark.parametrize(("service", "action"), DECLARED, ids=[f"{n.rsplit('.', 1)[1]}-{a}" for n, a in DECLARED])
def test_it_leaves_an_audit_event_for_each_change(service, action, demo, settings):
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    returned = SCENARIOS[(service, action)](settings)
    # the secrets and tokens the scenario handed out
    never_shown = [s for s in returned if isinstance(s, str)] if isinstance(returned, list) else []
    events = list(AuditEvent.objects.filter(id__gt=before, action=action))
    assert events, f"{service} left no {action!r} event"
    for event in events:
        assert event.actor_id is not None or event.detail.get("rule"), "an event names who acted or the rule"
        assert event.target_type and event.target_id
        written = json.dumps(event.detail, ensure_ascii=False)
        for secret in never_shown:
            assert secret not in written
