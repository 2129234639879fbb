import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import Area, AreaLevel


@pytest.fixture
def county(demo) -> Area:
    return Area.objects.get(code="360799000000")


def test_it_finds_a_subtree_with_one_indexed_query(county):
    with CaptureQueriesContext(connection) as queries:
        levels = list(Area.objects.subtree(county).values_list("level", flat=True))
    assert len(queries) == 1
    assert levels.count(AreaLevel.COUNTY) == 1
    assert levels.count(AreaLevel.TOWNSHIP) == 12
    assert levels.count(AreaLevel.VILLAGE) == 150


def test_it_keeps_a_township_subtree_to_its_own_villages(county):
    township = Area.objects.get(name="城关镇")
    villages = Area.objects.below(township)
    assert villages.count() == 13
    assert all(v.parent_id == township.pk for v in villages)
    other = Area.objects.get(name="石门乡")
    assert not Area.objects.subtree(township).filter(pk=other.pk).exists()
    assert county.contains(township) and township.contains(villages[0])
    assert not township.contains(other) and not township.contains(county)


def test_it_rewrites_descendant_paths_when_an_area_moves(county):
    township = Area.objects.get(name="白沙乡")
    new_parent = Area.objects.get(name="龙泉镇")
    village_codes = set(Area.objects.below(township).values_list("code", flat=True))
    # a township cannot sit under a township (level rule), so move a village instead
    village = Area.objects.below(township).first()
    village.parent = new_parent
    village.full_clean()
    village.save()
    assert Area.objects.subtree(new_parent).filter(pk=village.pk).exists()
    assert set(Area.objects.below(township).values_list("code", flat=True)) == village_codes - {village.code}


def test_it_rewrites_the_whole_subtree_when_a_code_changes(county):
    township = Area.objects.get(name="梅林乡")
    township.code = "360799299000"
    township.save()
    below = Area.objects.below(township)
    assert below.count() == 12
    assert all(v.path.startswith(township.path) for v in below)


@pytest.mark.parametrize("code", ["12345", "36079910100a", "3607991010001"])
def test_it_rejects_a_malformed_statutory_code(county, code):
    area = Area(code=code, name="x", level=AreaLevel.TOWNSHIP, parent=county)
    with pytest.raises(ValidationError) as caught:
        area.full_clean()
    assert "statutory code must be 6 to 12 digits" in str(caught.value)
    assert "统计用区划代码" in str(caught.value)


def test_it_rejects_a_level_that_skips_a_step(county):
    area = Area(code="360799999999", name="x", level=AreaLevel.VILLAGE, parent=county)
    with pytest.raises(ValidationError) as caught:
        area.full_clean()
    assert "one below the parent's level" in str(caught.value)
