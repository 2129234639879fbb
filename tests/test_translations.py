"""The pages speak Chinese: every literal a template hands to `{% translate %}` has its Chinese in the catalogue
as the template looks it up, and lists of codes reach the page as names."""

import re
from pathlib import Path

from django.template import engines
from django.utils import translation

from reporting.models import AggregateKind, DataRequest

ROOT = Path(__file__).resolve().parent.parent
LITERAL = re.compile(r'\{%\s*(?:translate|trans)\s+"([^"]+)"(?:\s+context\s+"([^"]+)")?')


def test_every_literal_a_template_translates_has_its_chinese():
    engine = engines["django"]
    untranslated = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        for text, context in LITERAL.findall(template.read_text()):
            source = '{% load i18n %}{% translate "' + text + '"' + (f' context "{context}"' if context else "") + " %}"
            with translation.override("zh-hans"):
                shown = engine.from_string(source).render({})
            # words but no Chinese character: the English came through (punctuation such as ": " stays as it is)
            if re.search(r"[A-Za-z]", text) and not re.search(r"[\u4e00-\u9fff]", shown):
                untranslated.append(f"{template.relative_to(ROOT)}: {text}")
    # (two labels with a "%" were missing: a template looks a literal "%" up as "%%", the catalogue had "%")
    assert untranslated == []


def test_a_requests_aggregate_kinds_are_shown_by_name_in_the_readers_language():
    request = DataRequest(aggregations=["sum", "ratio"])
    with translation.override("zh-hans"):
        chinese = request.aggregation_labels
    with translation.override("en"):
        english = request.aggregation_labels
    assert chinese == _zh(AggregateKind.SUM.label) + "、" + _zh(AggregateKind.RATIO.label)
    assert "sum" not in chinese and "ratio" not in chinese and re.search(r"[\u4e00-\u9fff]", chinese)
    assert english == "Sum, Ratio"


def _zh(label) -> str:
    with translation.override("zh-hans"):
        return str(label)


def test_every_model_and_field_name_of_reporting_has_its_chinese():
    from django.apps import apps
    from django.utils.functional import Promise

    untranslated = []
    with translation.override("zh-hans"):
        for model in apps.get_app_config("reporting").get_models():
            # a plural Django makes up ("drafts") is no msgid; one the model names is
            names = [model._meta.verbose_name, model._meta.original_attrs.get("verbose_name_plural")]
            names += [f.verbose_name for f in model._meta.get_fields() if hasattr(f, "verbose_name")]
            for name in names:
                said = str(name)
                if isinstance(name, Promise) and not re.search(r"[\u4e00-\u9fff]", said):
                    untranslated.append(f"{model.__name__}: {said}")
    assert untranslated == []
