"""The SQL twin of the simple field types' `parse`: what PostgreSQL itself may decide about a raw value, so that
a register supply of hundreds of thousands of values is checked set-based instead of one Python call per value.

`VALUE_SQL` is an expression over three columns a query names `v` (the raw value, jsonb; SQL NULL when the row
has none), `t` (the field's type code) and `c` (the definition's constraints, jsonb). It gives:

- the value as the field stores it, as JSON text (`parse_value(t, {**c, "required": False}, raw)` serialised;
  'null' for a blank value), when the twin accepts it;
- '' when the twin refuses it (the Python type refuses it too);
- NULL when the twin does not decide (the row is then checked by the Python type, which words any refusal).

The twin decides only what it can decide exactly as Python does (ASCII text, whole numbers of at most 15 digits,
which any JSON spelling gives the same value as Python's float; no regular-expression `pattern`); everything
else (non-ASCII digits, fractions and exponents, white space other than the ASCII space at the edges, nested
values) it leaves to Python. A type not in `TWINNED` is always left to Python. `tests/catalogue/
test_fieldtype_sql_twin.py` feeds the same hostile values through both and asserts the same verdicts.
"""

from __future__ import annotations

TWINNED = frozenset({"integer", "boolean", "choice", "text"})

# Python's `trimmed` removes these (str.isspace, and the invisible characters `core.problems.INVISIBLE`); a text
# with one at an edge is left to Python.
_EDGE = (
    r"[\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u2060-\u2064\u206a-\u206f\u2800\u3164"
    r"\ufeff\uffa0]"
)
# storable() refuses these (C0 controls but tab and line breaks, U+FFFE, U+FFFF, the bidirectional controls;
# jsonb holds no NUL or lone surrogate)
_UNSTORABLE = r"[\u0001-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
_WHOLE = "'^-?[0-9]{1,15}$'"  # a JSON number jsonb spells as a whole number Python reads to the same int

# the common case first, in as few steps as may be: jsonb spells a number as numeric does (no exponent), so a
# scale of 0 below 10^15 is what _WHOLE matches
_INTEGER_NUMBER = """
CASE WHEN scale(v::numeric) <> 0 OR abs(v::numeric) >= 1e15 THEN NULL
     WHEN v::numeric < (c->>'min')::numeric OR v::numeric > (c->>'max')::numeric THEN ''
     ELSE v::text END"""

_INTEGER = f"""
CASE jsonb_typeof(v)
  WHEN 'number' THEN ({_INTEGER_NUMBER})
  WHEN 'string' THEN CASE
      WHEN (v #>> '{{}}') !~ '^[ -~]*$' THEN NULL
      WHEN replace(btrim(v #>> '{{}}', ' '), ',', '') !~ '^[+-]?[0-9]{{1,18}}$' THEN ''
      WHEN replace(btrim(v #>> '{{}}', ' '), ',', '')::numeric < (c->>'min')::numeric
        OR replace(btrim(v #>> '{{}}', ' '), ',', '')::numeric > (c->>'max')::numeric THEN ''
      ELSE replace(btrim(v #>> '{{}}', ' '), ',', '')::numeric::text END
  WHEN 'boolean' THEN ''
END"""

_BOOLEAN = f"""
CASE jsonb_typeof(v)
  WHEN 'boolean' THEN v::text
  WHEN 'number' THEN CASE WHEN v::text ~ {_WHOLE} THEN
      CASE v::text WHEN '1' THEN 'true' WHEN '0' THEN 'false' ELSE '' END END
  WHEN 'string' THEN CASE
      WHEN (v #>> '{{}}') IN ('是', '有', '✓') THEN 'true'
      WHEN (v #>> '{{}}') IN ('否', '无', '✗') THEN 'false'
      WHEN (v #>> '{{}}') !~ '^[ -~]*$' THEN NULL
      WHEN lower(btrim(v #>> '{{}}', ' ')) IN ('1', 'true', 'yes', 'y') THEN 'true'
      WHEN lower(btrim(v #>> '{{}}', ' ')) IN ('0', 'false', 'no', 'n') THEN 'false'
      ELSE '' END
END"""

# a choice's code, Chinese or English name, given exactly (no white space at the edges, as Python strips it)
_CHOICE = f"""
CASE WHEN jsonb_typeof(v) = 'string' AND (v #>> '{{}}') !~ '^{_EDGE}|{_EDGE}$' THEN coalesce((
         SELECT to_jsonb(o->>'code')::text FROM jsonb_array_elements(c->'choices') o
         WHERE (v #>> '{{}}') IN (o->>'code', o->>'zh', o->>'en') LIMIT 1), '')
     WHEN jsonb_typeof(v) = 'number' AND v::text ~ {_WHOLE} THEN coalesce((
         SELECT to_jsonb(o->>'code')::text FROM jsonb_array_elements(c->'choices') o
         WHERE v::text IN (o->>'code', o->>'zh', o->>'en') LIMIT 1), '')
END"""

_TEXT = f"""
CASE WHEN c ? 'pattern' AND coalesce(c->>'pattern', '') <> '' THEN NULL
     WHEN jsonb_typeof(v) IN ('boolean', 'array', 'object') THEN ''
     WHEN jsonb_typeof(v) = 'number' THEN CASE WHEN v::text ~ {_WHOLE} THEN
         CASE WHEN length(v::text) > coalesce((c->>'max_length')::integer, 500) THEN ''
              ELSE to_jsonb(v::text)::text END END
     WHEN (v #>> '{{}}') ~ '^{_EDGE}|{_EDGE}$' OR (v #>> '{{}}') ~ '{_UNSTORABLE}' THEN NULL
     WHEN length(v #>> '{{}}') > coalesce((c->>'max_length')::integer, 500) THEN ''
     ELSE v::text
END"""

# A blank value (none, JSON null, ASCII spaces only, an empty list) says nothing: 'null' whatever the type.
VALUE_SQL = f"""
CASE WHEN t = 'integer' AND jsonb_typeof(v) = 'number' THEN ({_INTEGER_NUMBER})
     WHEN v IS NULL OR v = 'null'::jsonb OR v = '[]'::jsonb
          OR (jsonb_typeof(v) = 'string' AND (v #>> '{{}}') ~ '^ *$') THEN 'null'
     WHEN t = 'integer' THEN ({_INTEGER})
     WHEN t = 'boolean' THEN ({_BOOLEAN})
     WHEN t = 'choice' THEN ({_CHOICE})
     WHEN t = 'text' THEN ({_TEXT})
END"""
