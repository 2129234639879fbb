import datetime as dt

import time_machine

from reporting.models import DataRequest, Field, RequestStatus, Subscription

FORM = {
    "title": "乡村宽带普及监测",
    "purpose": "数字乡村建设统计",
    "legal_basis": "《统计法》",
    "scope": "360799000000",
    "first_period": "2027Q1",
    "p0_code": "broadband_households",
    "p0_name_zh": "宽带入户户数",
    "p0_name_en": "Broadband households",
    "p0_type": "integer",
    "p0_unit": "户",
    "p0_sheet": "village_basics",
    "p0_constraints": '{"min": 0}',
}


@time_machine.travel(dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC), tick=False)
def test_a_department_asks_the_office_reviews_with_overlaps_and_the_department_sees_the_reason(
    client, stats_user, office_admin
):
    client.force_login(stats_user)
    wanted = Field.objects.get(code="left_behind_children")
    response = client.post(
        "/department/requests/new/",
        {
            **FORM,
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


def test_a_bad_request_form_names_each_problem_and_saves_nothing(client, stats_user):
    client.force_login(stats_user)
    response = client.post(
        "/department/requests/new/", {**FORM, "title": "", "first_period": "明年", "p0_constraints": "{min: 0"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "proposed[0].constraints" in html and "must be a JSON object" in html
    assert not DataRequest.objects.exists()


def test_only_the_office_reviews_and_only_the_asking_department_sees_its_request(
    client, stats_user, civil_analyst, village_cadre
):
    client.force_login(stats_user)
    client.post("/department/requests/new/", FORM)
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
