"""What a phone keeps to file a form offline: the version of the form it was filled on, and the page's words.

A cadre may fill a form on a phone with no network and have it filed hours later (static/js/offline.js). The
form may have changed meanwhile (a field added or retired, a constraint or a rule changed): the filing names the
version of the form it was filled on and is refused with `form.changed` when that is no longer the form, so it is
never applied to a changed form; the phone keeps the cadre's values to check against the new one.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from reporting.catalogue.fieldtypes import base as values
from reporting.catalogue.fieldtypes.registry import get as field_type
from reporting.filing.checks import rules_data
from reporting.filing.idempotency import request_hash
from reporting.filing.onetable import OneTable
from reporting.models import Submission
from reporting.rejections import Problem


def form_version(table: OneTable) -> str:
    """A short fingerprint of what the form asks and how it checks the answers (fields, their rules, the rules
    across them); the catalogue's generation moves on for changes elsewhere too, so it alone would refuse
    filings whose form did not change."""
    asked = [(e.code, e.field.type, e.field.constraints, e.field.required, e.allow_na) for e in table.fields]
    return request_hash(asked, rules_data(table))[:16]


def offline_words() -> dict[str, str]:
    """What the page says about filing without a network, in the cadre's language (the script only shows them)."""
    return {
        "waiting_title": _("Waiting to be sent from this phone"),
        "waiting": _("Waiting for the network: it is sent by itself when the network returns."),
        "sent": _("Submitted"),
        "sent_correction": _("Correction submitted"),
        "sent_record": _("Record submitted"),
        "open_sent": _("See what was submitted"),
        "conflict_title": _("Not sent: please check"),
        "refused": _("The server did not accept it. Open the form, correct it and submit again."),
        "corrected_meanwhile": _(
            "While you were offline this filing was corrected (it is now version %(current)s). Your correction "
            "was not sent. Open the form: it shows the latest version with your values filled in; check them, "
            "then submit again."
        ),
        "open_current": _("See the latest version"),
        # beside the kept values: each field the newer version changed, its value and the cadre's
        "changed_fields": _("Version %(current)s changed these fields (its value → yours): decide which to keep:"),
        "theirs_yours": _("version %(current)s: %(theirs)s → yours: %(yours)s"),
        "changed": _(
            "This form changed while you were offline. Nothing was sent. Open the new form: your values are "
            "filled in for you to check, then submit again."
        ),
        "login": _("You are signed out. Sign in again and it is sent by itself."),
        "open_form": _("Open the form with my values"),
        "discard": _("Discard my values"),
        "discard_confirm": _("Discard the values you typed for this form? This cannot be undone."),
        "kept_values": _("Your values (kept on this phone)"),
        "no_longer_asked": _("No longer asked"),
        "queued": _("Saved on this phone. It will be submitted when the network returns; you can close this page."),
        "offline": _("No network: what you type is kept on this phone."),
        "restored": _("Restored what you typed on this phone (not yet submitted)."),
        "ready": _("This phone keeps what is due and its forms: you can fill them without a network."),
        "fix_first": _("Fix the errors above first."),
        "fix_fields": _("Not queued to be sent: fix these answers first."),
        "explain_first": _("Give a one-line explanation for each warning first."),
        "pressed": _("pressed submit at"),
        "not_applicable": _("Not applicable"),
    }


def offline_data(table: OneTable, *, submission: Submission | None = None) -> dict[str, Any]:
    """What a form's page hands its script: which form this is, the version of it the page shows, and where its
    values go through the unit API: a periodic sheet's first filing, a correction of `submission` (with the
    version it corrects, sent as If-Match), or a new ledger record."""
    sheet = table.sheet
    data: dict[str, Any] = {
        "sheet": sheet.code,
        "period": str(table.period),
        "form": form_version(table),
        # the shape of each answer (the checks' kinds): how the script reads the form into the API's body
        "kinds": {e.code: e.field.field_type.expression_kind for e in table.fields},
        "fields": field_checks(table),
    }
    if submission is not None:
        label = sheet.name if sheet.is_ledger else f"{sheet.name} · {table.period.label()}"
        return data | {
            "kind": "correction",
            "draft": _correction_draft(submission.pk, submission.current_version),
            "title": _("Correction of %(form)s") % {"form": label},
            "name": label,
            "api": reverse("api_corrections", args=[submission.pk]),
            "base_version": submission.current_version,
        }
    if sheet.is_ledger:
        return data | {
            "kind": "record",
            "draft": f"record/{sheet.code}",
            # the form comes dated the day it was made: a phone opening its kept copy later dates it that day
            "date_field": sheet.record_date_field,
            "title": _("New record: %(ledger)s") % {"ledger": sheet.name},
            "name": sheet.name,
            "api": reverse("api_submissions"),
        }
    return data | {
        "kind": "filing",
        "draft": f"{sheet.code}/{table.period}",
        "title": f"{sheet.name} · {table.period.label()}",
        "name": f"{sheet.name} · {table.period.label()}",
        "api": reverse("api_submissions"),
    }


def _correction_draft(submission_id: int, base_version: int) -> str:
    # per version corrected: a draft typed on version 1 is not brought into the form of version 2 unasked
    return f"correction/{submission_id}/{base_version}"


def filed_drafts(submission: Submission, *, done: bool) -> list[str]:
    """The phone's drafts a filed submission's page ends (offline.js): its period's first filing; and, right
    after filing (`done`), the correction it came from or the new record's form it was typed on."""
    sheet = submission.sheet
    drafts = [] if sheet.is_ledger else [f"{sheet.code}/{submission.period}"]
    if done and submission.current_version > 1:
        drafts.append(_correction_draft(submission.pk, submission.current_version - 1))
    elif done and sheet.is_ledger:
        drafts.append(f"record/{sheet.code}")
    return drafts


def field_checks(table: OneTable) -> dict[str, Any]:
    """Each answer's own rules as the phone checks them before keeping a form to send later (static/js/rules.js
    `fieldProblems`): the field's type and constraints as the catalogue stores them, the patterns a number is
    read with (reporting/catalogue/fieldtypes/base.py), and the words of each refusal, rendered here as the
    server words them. A register's value the unit confirms or disputes is left to the server."""
    fields = {}
    for entry in table.fields:
        if entry.register is not None:
            continue
        f, c = entry.field, dict(entry.field.constraints or {})
        rules = {"required": {}, "na.reason": {}, **_type_rules(f.type, c)}
        words = {
            rule: Problem(field=f.code, rule=rule, params=params).labelled(f.name_zh, f.name_en)
            for rule, params in rules.items()
        }
        fields[f.code] = {
            "type": f.type,
            "constraints": c | ({"choices": accepted_options(c)} if "choices" in c else {}),
            "words": {rule: [p.message_zh, p.message_en] for rule, p in words.items()},
        }
    return {"patterns": {"integer": values.INTEGER.pattern, "decimal": values.DECIMAL.pattern}, "fields": fields}


def accepted_options(c: dict[str, Any]) -> list[str]:
    """Every spelling of an option the server takes (its code, its Chinese and English names): a form posts the
    code, a cadre typing into a spreadsheet-like input may give a name."""
    return [s for o in c["choices"] for s in (o.get("code"), o.get("zh"), o.get("en")) if isinstance(s, str) and s]


def _type_rules(type_code: str, c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The refusals a value of this type may meet, with the parameters its words name."""
    bounds = {"min": {"min": c.get("min")}, "max": {"max": c.get("max")}}
    if type_code == "integer":
        return {"integer.invalid": {}, **bounds}
    if type_code == "decimal":
        places = c.get("places", 2)
        return {"decimal.invalid": {}, "decimal.places": {"places": places, "s": "" if places == 1 else "s"}, **bounds}
    if type_code == "text":
        hint = {"pattern_hint": c.get("pattern_hint") or c.get("pattern", "")}
        return {"text.max_length": {"max_length": c.get("max_length", 500)}, "text.pattern": hint}
    if type_code in ("choice", "multi_choice"):
        listing = field_type(type_code).options(c)  # type: ignore[attr-defined]
        return {"choice.invalid": {"choices": listing}, "choice.max_selected": {"max_selected": c.get("max_selected")}}
    if type_code == "date":
        return {"date.invalid": {}, "date.min": {"min": c.get("min")}, "date.max": {"max": c.get("max")}}
    return {}
