"""The field types (`types`), the constraints they take (`constraints`), the words and parsing they share
(`base`) and the registry that names them (`registry`); `from reporting.catalogue import fieldtypes` reaches them all."""  # noqa: E501

from reporting.catalogue.fieldtypes.base import UNITS_OF_MEASURE, Constraints, choice_label, unit_label, with_unit
from reporting.catalogue.fieldtypes.constraints import REQUIRED, Constraint
from reporting.catalogue.fieldtypes.registry import (
    TYPE_CHOICES,
    check_definition,
    definition,
    describe,
    get,
    parse_value,
    type_choices,
)
from reporting.catalogue.fieldtypes.types import (
    REGISTRY,
    BooleanType,
    ChoiceType,
    DateType,
    DecimalType,
    FieldType,
    IntegerType,
    MultiChoiceType,
    TextType,
)

__all__ = [
    "REGISTRY",
    "REQUIRED",
    "TYPE_CHOICES",
    "UNITS_OF_MEASURE",
    "BooleanType",
    "ChoiceType",
    "Constraint",
    "Constraints",
    "DateType",
    "DecimalType",
    "FieldType",
    "IntegerType",
    "MultiChoiceType",
    "TextType",
    "check_definition",
    "choice_label",
    "definition",
    "describe",
    "get",
    "parse_value",
    "type_choices",
    "unit_label",
    "with_unit",
]
