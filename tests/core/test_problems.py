"""The rule catalogue of core.problems: core's own rules, and each app's added once, with one meaning per code."""

import pytest

from core import problems
from core.problems import Problem, add_messages
from reporting import rejections as errors


def test_it_refuses_to_give_a_rule_code_a_second_meaning():
    with pytest.raises(ValueError, match=r"text\.character"):
        add_messages({"text.character": ("别的意思", "something else")})
    with pytest.raises(ValueError, match=r"period\.not_open"):
        add_messages({}, by_reason={"period.not_open": {"not_begun": ("别的", "other")}})
    problem = Problem(field="title", rule="text.character")
    assert problem.message_en.startswith("contains a character that cannot be stored")


def test_it_takes_the_same_rules_again_unchanged():
    add_messages(errors.MESSAGES, by_reason={"period.not_open": errors.NOT_OPEN})
    assert problems.MESSAGES["min"] == errors.MESSAGES["min"]
    problem = Problem(
        field="period", rule="period.not_open", params={"why": "not_begun", "period": "2027", "start": "x"}
    )
    assert problem.message_zh == "报告期 2027 尚未开始，x 起才能填报"
