from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from core.demo_accounts import DEMO_ACCOUNTS, DEMO_PASSWORD
from core.models import Area, Department, Unit, User
from reporting.models import Field, Sheet


def test_the_demo_county_has_its_townships_villages_departments_and_catalogue(demo):
    county = Area.objects.get(code="360799000000")
    assert Area.objects.below(county).filter(level="township").count() == 12
    assert Area.objects.below(county).filter(level="village").count() == 150
    assert Unit.objects.count() == 162
    assert set(Department.objects.values_list("code", flat=True)) == {"propaganda", "culture", "civil", "stats"}
    assert Sheet.objects.count() == 6
    assert 55 <= Field.objects.count() <= 65
    assert Sheet.objects.filter(cadence="ledger").count() == 1
    assert Field.objects.filter(stable=True, sheet__code="village_basics").count() >= 8
    # codes are unique per township and follow the statutory pattern
    per_parent = Area.objects.filter(level="village").values("parent").annotate(n=Count("id"))
    assert {row["n"] for row in per_parent} == {12, 13}


def test_loading_the_demo_twice_changes_nothing(demo, capsys):
    before = (Area.objects.count(), User.objects.count(), Field.objects.count())
    call_command("load_demo")
    assert "already loaded" in capsys.readouterr().out
    assert (Area.objects.count(), User.objects.count(), Field.objects.count()) == before


def test_every_demo_login_works(client, demo):
    for username, _who in DEMO_ACCOUNTS:
        assert client.login(username=username, password=DEMO_PASSWORD), username
        client.logout()


def test_logging_in_records_no_login_time(client, demo):
    # No login statistics are kept for anyone (rule against fingertip formalism).
    response = client.post("/login/", {"username": "village", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert "last_login" not in [f.name for f in User._meta.get_fields()]
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, User._meta.db_table)]
    assert "last_login" not in columns


def test_a_wrong_password_is_refused_with_a_bilingual_message(client, demo):
    response = client.post("/login/", {"username": "village", "password": "wrong-password"})
    assert response.status_code == 200
    assert "用户名或密码不正确" in response.content.decode()
    assert "password is not correct" in response.content.decode()


def test_the_login_page_loads_nothing_from_outside(client, db):
    html = client.get("/login/").content.decode()
    assert 'src="http' not in html and 'href="http' not in html
    assert "/static/js/htmx.min.js" in html


def test_the_office_issues_a_department_token_that_works_once_printed(demo, capsys):
    from rest_framework.test import APIClient

    call_command("issue_token", department="culture", name="文旅平台", days=30)
    token = capsys.readouterr().out.split()[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/subscriptions").status_code == 200
    from core.models import ApiToken

    assert not ApiToken.objects.filter(digest=token).exists()  # only the digest is stored


def test_issuing_a_token_for_an_unknown_department_names_the_problem(demo):
    import pytest
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no department with code 'nope'"):
        call_command("issue_token", department="nope", name="x")


def test_the_authorization_scheme_is_read_in_any_case(demo, capsys):
    from rest_framework.test import APIClient

    call_command("issue_token", department="culture", name="文旅平台", days=30)
    token = capsys.readouterr().out.split()[0]
    client = APIClient()
    for scheme in ("bearer", "BEARER", "bEaReR"):  # RFC 9110 §11.1: the scheme is case-insensitive
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
        assert client.get("/api/v1/subscriptions").status_code == 200, scheme
        assert client.get("/dhis2/api/dataSets").status_code == 200, scheme
    client.credentials(HTTP_AUTHORIZATION=f"apitoken {token}")
    assert client.get("/dhis2/api/dataSets").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="bearer ot_not-a-token")  # read as a token now: refused as one
    assert client.get("/api/v1/subscriptions").status_code == 401
