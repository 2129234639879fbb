"""What the issue-19 pages say, read as their users read them: periods by name, not by code; a disputed value
beside the register value it disputes; the supply form's options as checkboxes with their words."""

from __future__ import annotations

import pytest
from django.utils import translation

from core.models import User
from reporting.models import Field, Submission
from reporting.templatetags.periods import period_label
from tests.sources.test_disputes import open_dispute


@pytest.mark.parametrize(
    ("code", "zh", "en"),
    [
        ("2026Q4", "2026年第4季度", "2026 Q4"),
        ("202611", "2026年11月", "Nov 2026"),
        ("2025", "2025年", "2025"),
        ("2026Q1–2026Q3", "2026年第1季度–2026年第3季度", "2026 Q1–2026 Q3"),
        ("not a period", "not a period", "not a period"),
        ("", "", ""),
        (None, "", ""),
    ],
)
def test_it_names_a_period_code_in_the_pages_language(code, zh, en):
    with translation.override("zh-hans"):
        assert period_label(code) == zh
    with translation.override("en"):
        assert period_label(code) == en


def test_the_dispute_queue_and_the_units_data_use_page_name_the_period(village_cadre, civil_analyst, client):
    open_dispute(village_cadre)
    client.force_login(civil_analyst)
    queue = client.get("/department/disputes/").content.decode()
    assert "60岁以上老年人数 · 2026年第4季度" in queue and "2026Q4" not in queue
    assert "<dd>400 人</dd>" in queue and "<strong>420</strong> 人" in queue  # values with their unit
    client.force_login(village_cadre)
    data_use = client.get("/fill/data-use/").content.decode()
    assert "60岁以上老年人数 · 2026年第4季度" in data_use and "· 2026Q4" not in data_use
    assert ">400 人</td>" in data_use and ">420 人<br>" in data_use


def test_the_submission_page_shows_the_register_value_and_the_reason_beside_a_disputed_value(village_cadre, client):
    dispute = open_dispute(village_cadre, register=400, unit_value=420, reason="新增 20 位老人户籍迁入")
    client.force_login(village_cadre)
    page = client.get(f"/submissions/{dispute.submission_id}/").content.decode()
    row = page[page.index("60岁以上老年人数") :]
    row = row[: row.index("</tr>")]
    assert "420 人" in row and "已提出异议" in row
    assert "部门数据：400 人" in row and "原因：新增 20 位老人户籍迁入" in row


def test_another_units_dispute_never_shows_on_a_units_submission_page(village_cadre, client):
    dispute = open_dispute(village_cadre)
    other = User.objects.filter(unit__isnull=False).exclude(unit=village_cadre.unit).first()
    assert other is not None and not Submission.objects.filter(unit=other.unit, pk=dispute.submission_id).exists()
    client.force_login(other)
    assert client.get(f"/submissions/{dispute.submission_id}/").status_code == 404


def test_the_supply_form_offers_its_two_options_as_labelled_checkboxes(civil_analyst, client):
    client.force_login(civil_analyst)
    Field.objects.filter(code="dibao_people").update(source=civil_analyst.department)
    page = client.get("/department/supplies/").content.decode()
    assert '<label class="choice"><input type="checkbox" name="partial"> 导入其余正确的行</label>' in page
    assert '<label class="choice"><input type="checkbox" name="dry_run"> 仅检查，不保存</label>' in page
    assert "模板：" in page and "低保人数" in page
