"""The office assigns a source to a field through a data request's review (一数一源)."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import Department, User
from reporting.models import DataRequest, Field, RequestStatus
from reporting.rejections import Problems
from reporting.services.requests import RequestInput, review_request, save_request, submit_request
from tests.reporting.helpers import text_of

FORM = {
    "title": "民政低保数据由本局提供",
    "purpose": "低保人数以民政业务系统为准，村里不再填报",
    "legal_basis": "《社会救助暂行办法》",
    "scope": "360799000000",
    "first_period": "2027Q1",
}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _ask(user: User, *codes: str) -> DataRequest:
    """The user's department asks, through the request form, to supply `codes`, and submits it."""
    ids = [str(pk) for pk in Field.objects.filter(code__in=codes).values_list("pk", flat=True)]
    response = _client(user).post("/department/requests/new/", {**FORM, "source_fields": ids})
    assert response.status_code == 302, response.content.decode()[:2000]
    request = DataRequest.objects.filter(department=user.department).latest("created_at")
    submit_request(request=request, by=user)
    return request


def test_it_makes_civil_affairs_the_source_after_the_office_saw_receivers_and_values_spared(
    civil_analyst, office_admin
):
    request = _ask(civil_analyst, "elderly_over_60")
    assert list(request.source_fields.values_list("code", flat=True)) == ["elderly_over_60"]
    page = _client(office_admin).get(f"/office/requests/{request.pk}/")
    assert page.status_code == 200
    offers = text_of(page.content.decode(), 'id="source-offers"', "</section>")
    assert "60岁以上老年人数" in offers and "青山县民政局" in offers  # civil affairs itself receives it today
    # every village filed it last period: 150 values a period no longer typed; all 150 are covered
    assert "村（社区）基本情况 青山县民政局 150 (2026年第3季度) 150" in offers
    field = Field.objects.get(code="elderly_over_60")
    response = _client(office_admin).post(
        f"/office/requests/{request.pk}/",
        {"decision": "approve", "reason": "民政系统数据完整", "source_fields": [str(field.pk)]},
    )
    assert response.status_code == 302
    field.refresh_from_db()
    request.refresh_from_db()
    assert field.source == civil_analyst.department
    assert request.status == RequestStatus.APPROVED and request.subscription is None  # nothing asked of units


def test_a_rejection_stores_no_source(civil_analyst, office_admin):
    request = _ask(civil_analyst, "dibao_people")
    response = _client(office_admin).post(f"/office/requests/{request.pk}/", {"decision": "reject", "reason": "否"})
    assert response.status_code == 302
    assert Field.objects.get(code="dibao_people").source is None
    assert DataRequest.objects.get(pk=request.pk).status == RequestStatus.REJECTED


def test_a_second_department_asking_for_a_field_with_a_source_is_refused_by_name(civil_analyst, stats_user):
    Field.objects.filter(code="registered_population").update(source=civil_analyst.department)
    field = Field.objects.get(code="registered_population")
    response = _client(stats_user).post("/department/requests/new/", {**FORM, "source_fields": [str(field.pk)]})
    assert response.status_code == 400
    text = response.content.decode()
    assert "字段“户籍人口”已由青山县民政局提供（一数一源）" in text and "one source per fact" in text
    assert not DataRequest.objects.filter(department=stats_user.department).exists()


def test_the_approval_is_refused_when_another_department_became_the_source_meanwhile(
    civil_analyst, stats_user, office_admin
):
    civil_request = _ask(civil_analyst, "registered_population")
    stats_request = _ask(stats_user, "registered_population")
    review_request(request=civil_request, by=office_admin, approve=True, reason="民政先行")
    with pytest.raises(Problems) as refused:
        review_request(request=stats_request, by=office_admin, approve=True, reason="统计")
    assert [(p.field, p.rule) for p in refused.value.problems] == [("source_fields", "request.source_taken")]
    assert Field.objects.get(code="registered_population").source == civil_analyst.department
    assert DataRequest.objects.get(pk=stats_request.pk).status == RequestStatus.SUBMITTED


def test_a_proposed_field_to_supply_is_created_with_its_source(civil_analyst, office_admin):
    data = RequestInput(
        title="残疾人两项补贴",
        purpose="补贴发放以本局系统为准",
        legal_basis="《残疾人保障法》",
        scope=civil_analyst.department.jurisdiction,
        first_period="2027Q1",
        proposed=[
            {
                "code": "disability_allowance_people",
                "name_zh": "残疾人两项补贴人数",
                "name_en": "Disability allowance recipients",
                "type": "integer",
                "constraints": {"min": 0},
                "sheet": "civil_affairs",
                "source": True,
            }
        ],
    )
    request = save_request(department=civil_analyst.department, by=civil_analyst, data=data)
    submit_request(request=request, by=civil_analyst)
    review_request(request=request, by=office_admin, approve=True, reason="同意")
    assert Field.objects.get(code="disability_allowance_people").source == civil_analyst.department
    assert DataRequest.objects.get(pk=request.pk).subscription is None


@pytest.mark.parametrize("who", ["civil", "village", "anonymous"])
def test_nobody_but_the_office_sees_or_decides_a_source_request(civil_analyst, who):
    request = _ask(civil_analyst, "dibao_people")
    client = Client()
    if who != "anonymous":
        client.force_login(User.objects.get(username=who))  # the asking department itself, a unit
    page = client.get(f"/office/requests/{request.pk}/")
    decided = client.post(f"/office/requests/{request.pk}/", {"decision": "approve", "reason": "自己批准"})
    if who == "anonymous":
        assert page.status_code == decided.status_code == 302 and "/login" in page["Location"]
    else:
        assert page.status_code == decided.status_code == 404
    assert Field.objects.get(code="dibao_people").source is None
    assert DataRequest.objects.get(pk=request.pk).status == RequestStatus.SUBMITTED


def test_another_department_cannot_read_the_request(civil_analyst, stats_user):
    request = _ask(civil_analyst, "dibao_people")
    assert _client(stats_user).get(f"/department/requests/{request.pk}/").status_code == 404
    assert Department.objects.get(code="civil").data_requests.count() == 1
