"""Turn a one table into form rows and a POSTed form back into answers (no Django Form: fields are dynamic);
and a field definition's constraints into inputs and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from reporting.catalogue import fieldtypes
from reporting.filing.onetable import OneTable, TableField
from reporting.rejections import Problem


@dataclass
class Row:
    entry: TableField
    value: Any  # what to show in the input: typed text, carried value or current value
    na: bool = False
    na_reason: str = ""
    problems: list[Problem] = field(default_factory=list)
    dispute_reason: str = ""  # why the register value is wrong, as typed

    @property
    def register_value(self) -> str:
        """The register's value as the input shows it ("" for a field the register did not supply)."""
        register = self.entry.register
        return "" if register is None else self.f.field_type.input_value(register.value)

    @property
    def register_shown(self) -> Any:
        """The register's value for reading (a choice's label, yes/no…)."""
        register = self.entry.register
        return None if register is None else self.f.field_type.display(register.value, self.f.constraints)

    @property
    def disputing(self) -> bool:
        """The cadre opened the dispute: a reason given, a problem to fix, or a value other than the register's."""
        if self.entry.register is None:
            return False
        to_fix = [p for p in self.problems if p.rule != "register.changed"]  # a changed value is there to confirm
        return bool(self.dispute_reason or to_fix) or (
            self.value is not None and self.input_value != self.register_value
        )

    @property
    def shows_carried(self) -> bool:
        """The input shows the value carried forward (the badge asks the cadre to confirm it), not one they typed
        (a draft's own answer, a refused form's)."""
        if not self.entry.has_carried or self.entry.register is not None:
            return False
        return self.input_value == self.f.field_type.input_value(self.entry.carried)

    @property
    def f(self):
        return self.entry.field

    @property
    def widget(self) -> dict[str, Any]:
        return self.f.field_type.widget(self.f.constraints)

    @property
    def rules(self) -> list[str]:
        """The input's rules in words, shown before any error; the choices themselves are on screen."""
        return [text for key, text in self.f.field_type.rules(self.f.constraints) if key != "choices"]

    @property
    def selected(self) -> list[str]:
        """Selected choice codes, for choice and multiple-choice widgets."""
        if self.value in (None, ""):
            return []
        return [str(v) for v in self.value] if isinstance(self.value, list) else [str(self.value)]

    @property
    def input_type(self) -> str:
        """The input's HTML type."""
        return self.f.field_type.input_type(self.input_value)

    @property
    def input_value(self) -> str:
        return self.f.field_type.input_value(self.value)


def read_post(table: OneTable, post: QueryDict) -> tuple[dict[str, Any], dict[str, str]]:
    """The raw answers and "not applicable" reasons a form posted, for the table's fields only."""
    raw: dict[str, Any] = {}
    na: dict[str, str] = {}
    for entry in table.fields:
        code = entry.code
        if post.get(f"na__{code}"):
            na[code] = post.get(f"nar__{code}", "")
        else:
            raw[code] = entry.field.field_type.read_form(post, f"v__{code}")
    return raw, na


def rows_for(
    table: OneTable,
    *,
    values: dict[str, Any] | None = None,
    not_applicable: dict[str, str] | None = None,
    problems: dict[str, list[Problem]] | None = None,
    use_carried: bool = True,
    disputes: dict[str, str] | None = None,
) -> list[Row]:
    values, not_applicable, problems, disputes = values or {}, not_applicable or {}, problems or {}, disputes or {}
    rows = []
    for entry in table.fields:
        value = values.get(entry.code)
        if value in (None, "") and entry.register is not None:
            value = entry.register.value  # the register's value, confirmed by leaving it as it is
        elif value is None and use_carried and entry.has_carried and entry.code not in values:
            value = entry.carried
        reason = disputes.get(entry.code)
        rows.append(
            Row(
                entry,
                value,
                na=entry.code in not_applicable,
                na_reason=not_applicable.get(entry.code, ""),
                problems=problems.get(entry.code, []),
                dispute_reason=reason if isinstance(reason, str) else "",
            )
        )
    return rows


def read_disputes(table: OneTable, post: QueryDict) -> dict[str, str]:
    """The reasons a form gave for disputing register values (`dispute_<code>`), for the register's fields only."""
    return {
        entry.code: post.get(f"dispute_{entry.code}", "")
        for entry in table.fields
        if entry.register is not None and f"dispute_{entry.code}" in post
    }


def read_seen(table: OneTable, post: QueryDict) -> dict[str, str]:
    """The register values the form showed when it was opened (`seen_<code>`, as the input held them): a value
    the cadre left as pre-filled is no dispute, even if the register changed meanwhile."""
    return {
        entry.code: post.get(f"seen_{entry.code}", "")
        for entry in table.fields
        if entry.register is not None and f"seen_{entry.code}" in post
    }


def only_prefilled(table: OneTable, raw: dict[str, Any], disputes: dict[str, str], seen: dict[str, str]) -> dict:
    """The answers without the register values the form only pre-filled (left as shown, no reason): a draft keeps
    what the cadre typed, and a register value is confirmed as it stands when the draft is submitted."""
    registered = {entry.code: entry.field.field_type for entry in table.fields if entry.register is not None}
    return {
        code: value
        for code, value in raw.items()
        if not (
            code in registered
            and code in seen
            and not (disputes.get(code) or "").strip()
            and registered[code].input_value(value) == seen[code]
        )
    }


def draft_answers(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    return raw.get("values", {}), raw.get("not_applicable", {})


# --- field definitions: constraints set through inputs, never typed as JSON ------------------------------------


@dataclass
class ConstraintInput:
    constraint: fieldtypes.Constraint
    name: str
    text: str


@dataclass
class TypeInputs:
    type: fieldtypes.FieldType
    inputs: list[ConstraintInput]


@dataclass
class DefinitionInputs:
    """A definition's constraints as form inputs: "required", then one group per field type, named
    `<prefix><type>_<key>` so that switching the type keeps what was typed for each; only the chosen
    type's group is read. The groups and their inputs come from the field-type registry."""

    prefix: str
    type: str
    required: bool
    groups: list[TypeInputs]

    @classmethod
    def stored(cls, prefix: str, type_code: str, constraints: Any, types: list[str] | None = None) -> DefinitionInputs:
        """The inputs showing a stored definition."""
        constraints = constraints if isinstance(constraints, dict) else {}
        texts = {
            f"{prefix}{type_code}_{c.key}": c.text(constraints.get(c.key))
            for c in (fieldtypes.REGISTRY[type_code].constraints if type_code in fieldtypes.REGISTRY else ())
        }
        return cls._build(prefix, type_code, constraints.get("required") is True, texts, types)

    @classmethod
    def posted(cls, prefix: str, post: QueryDict, type_code: str, types: list[str] | None = None) -> DefinitionInputs:
        """The inputs as they were posted, to be read or shown again as typed."""
        return cls._build(prefix, type_code, bool(post.get(f"{prefix}required")), post, types)

    @classmethod
    def _build(cls, prefix, type_code, required, texts, types) -> DefinitionInputs:
        groups = [
            TypeInputs(
                field_type,
                [
                    ConstraintInput(c, f"{prefix}{code}_{c.key}", texts.get(f"{prefix}{code}_{c.key}", ""))
                    for c in field_type.constraints
                ],
            )
            for code, field_type in fieldtypes.REGISTRY.items()
            if types is None or code in types
        ]
        return cls(prefix, type_code, required, groups)

    @property
    def required_label(self) -> str:
        return fieldtypes.REQUIRED.label

    @property
    def typed(self) -> bool:
        """Whether anything was set for the chosen type (a row left empty is not a proposal)."""
        return self.required or any(i.text.strip() for g in self.groups if g.type.code == self.type for i in g.inputs)

    def read(self) -> tuple[dict[str, Any], list[Problem]]:
        """The constraints of the chosen type, and a Problem for each input that cannot be read, named by its
        label; whether they make a valid definition is the registry's check_definition's to say."""
        constraints: dict[str, Any] = {"required": True} if self.required else {}
        problems = []
        for group in self.groups:
            if group.type.code != self.type:
                continue
            for item in group.inputs:
                try:
                    value = item.constraint.read(item.text, field=item.name)
                except Problem as problem:
                    problems.append(problem)
                    continue
                if value is not None:
                    constraints[item.constraint.key] = value
        return constraints, problems

    def renamed(self, prefix: str) -> DefinitionInputs:
        """The same inputs under another prefix (a request form renumbers its rows)."""
        texts = {i.name.removeprefix(self.prefix): i.text for g in self.groups for i in g.inputs}
        return self._build(prefix, self.type, self.required, {prefix + k: t for k, t in texts.items()}, None)


# --- a data request's proposed new fields --------------------------------------------------------------------

# a proposal's keys and the names of the inputs that hold them on the request form
PROPOSAL_INPUTS = {
    "code": "code",
    "name_zh": "name_zh",
    "name_en": "name_en",
    "type": "type",
    "unit_of_measure": "unit",
    "sheet": "sheet",
    "description": "description",
    "cadence": "cadence",
}


@dataclass
class ProposalRow:
    """One proposed new field on the request form: what is stored or was typed, shown again as it is."""

    index: int
    values: dict[str, Any]
    definition: DefinitionInputs

    @property
    def prefix(self) -> str:
        return f"p{self.index}_"

    @classmethod
    def stored(cls, index: int, proposal: dict[str, Any]) -> ProposalRow:
        values = {key: proposal.get(key) or "" for key in PROPOSAL_INPUTS}
        values["stable"] = bool(proposal.get("stable"))
        values["source"] = proposal.get("source") is True
        definition = DefinitionInputs.stored(f"p{index}_", str(values["type"]), proposal.get("constraints"))
        return cls(index, values, definition)

    @classmethod
    def posted(cls, index: int, post: QueryDict) -> ProposalRow:
        values: dict[str, Any] = {key: post.get(f"p{index}_{name}", "") for key, name in PROPOSAL_INPUTS.items()}
        values["stable"] = bool(post.get(f"p{index}_stable"))
        values["source"] = bool(post.get(f"p{index}_source"))
        return cls(index, values, DefinitionInputs.posted(f"p{index}_", post, values["type"]))

    def renumbered(self, index: int) -> ProposalRow:
        return ProposalRow(index, self.values, self.definition.renamed(f"p{index}_"))

    @property
    def blank(self) -> bool:
        typed = ("code", "name_zh", "name_en", "unit_of_measure", "description")
        return (
            not any(str(self.values[key]).strip() for key in typed)
            and not self.values["stable"]
            and not self.values["source"]
            and not (self.definition.typed)
        )

    def proposal(self) -> tuple[dict[str, Any], list[Problem]]:
        """The proposal as the data request stores it, and what in it could not be read."""
        constraints, problems = self.definition.read()
        proposal: dict[str, Any] = {key: str(self.values[key]).strip() for key in PROPOSAL_INPUTS if key != "cadence"}
        proposal["constraints"] = constraints
        if self.values["stable"]:
            proposal["stable"] = True
        if self.values["source"]:  # the department's register will supply it
            proposal["source"] = True
        if self.values["cadence"]:
            proposal["cadence"] = self.values["cadence"]
        return proposal, problems
