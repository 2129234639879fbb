// OneTable's validation rules evaluated in the browser with the semantics of reporting/catalogue/rules.py; both
// pass the same cases (reporting/catalogue/rule_cases.json). A rule is data (its sides' trees, operator,
// missing-value strategy, field codes): nothing here is specific to one rule. Needs expressions.js. The
// plausibility hint likewise takes its data (each field's history summary, range, the words) from the page.
(function (global) {
  "use strict";
  const E = global.OneTableExpressions;
  const missing = (v) => v === null || v === undefined || v === "";

  // evaluate(rule, values) -> "pass" | "fail" | "skip"
  function evaluate(rule, values) {
    if (rule.operator === "compulsory_pair") {
      const condition = E.evaluate(rule.left, { values: values });
      if (condition.value !== true) return condition.value === null ? "skip" : "pass";
      return missing(values[rule.right.code]) ? "fail" : "pass";
    }
    const absent = rule.fields.filter((code) => missing(values[code]));
    if (
      absent.length &&
      (rule.strategy === "SKIP_IF_ANY_VALUE_MISSING" ||
        (rule.strategy === "SKIP_IF_ALL_VALUES_MISSING" && absent.length === rule.fields.length))
    ) {
      return "skip";
    }
    const filled = Object.assign({}, values);
    for (const code of absent) if (rule.numbers.indexOf(code) >= 0) filled[code] = 0;
    // each side as shown (6 decimal places), then compared, as on the server (0.1 + 0.2 == 0.3 on both)
    const left = E.evaluate(rule.left, { values: filled });
    const right = E.evaluate(rule.right, { values: filled });
    if (left.value === null || right.value === null) return "skip";
    return holds(rule.operator, asShown(left.value), asShown(right.value)) ? "pass" : "fail";
  }

  const asShown = (v) => (typeof v === "number" ? parseFloat(E.shown(v)) : v);

  function holds(op, l, r) {
    if (op === "==") return l === r;
    if (op === "!=") return l !== r;
    if (typeof l !== "number" || typeof r !== "number") return false;
    if (op === "<") return l < r;
    if (op === "<=") return l <= r;
    if (op === ">") return l > r;
    return l >= r;
  }

  // A form's inputs as the evaluator takes them: numbers as numbers, yes/no as booleans, blanks as missing.
  function formValues(form, kinds) {
    const values = {};
    for (const code of Object.keys(kinds)) {
      const na = form.querySelector('[name="na__' + code + '"]');
      if (na && na.checked) continue;
      const inputs = form.querySelectorAll('[name="v__' + code + '"]');
      let text = null;
      for (const input of inputs) {
        if (input.type === "radio" || input.type === "checkbox") {
          if (input.checked) text = input.value;
        } else {
          text = input.value;
        }
      }
      if (text === null || String(text).trim() === "") continue;
      text = String(text).trim();
      if (kinds[code] === "number") {
        const digits = numberText(text); // as the server and the field checks read it: １２３４５ and 1,200 too
        if (/^[+-]?\d+(\.\d+)?$/.test(digits)) values[code] = parseFloat(digits);
      } else if (kinds[code] === "boolean") {
        values[code] = text === "1" || text === "true";
      } else {
        values[code] = text;
      }
    }
    return values;
  }

  // The plausibility hint with the semantics of reporting/catalogue/rules.py `modified_z` and `implausible`
  // (both pass plausibility_cases.json): the modified z-score 0.6745·(x − median)/MAD against the unit's own
  // history (the summary the server read), nothing with fewer than `min` earlier values or a MAD of 0.
  // -> "range" | "history" | null
  function implausible(value, field, threshold, settings) {
    if ((field.low !== null && value < field.low) || (field.high !== null && value > field.high)) return "range";
    const s = field.summary;
    if (!s || s.count < settings.min_history || s.mad === 0) return null;
    return Math.abs((settings.z_factor * (value - s.median)) / s.mad) > threshold ? "history" : null;
  }

  // What the form's values raise, rules first: [{key, kind, code, importance, message_zh, message_en}]
  function findings(data, values) {
    const out = [];
    for (const rule of data.rules) {
      if (evaluate(rule, values) !== "fail") continue;
      out.push({ key: "rule:" + rule.code, kind: "rule", code: rule.code, importance: rule.importance,
        message_zh: rule.message_zh, message_en: rule.message_en });
    }
    const p = data.plausibility;
    for (const code of Object.keys((p && p.fields) || {})) {
      const field = p.fields[code];
      if (typeof values[code] !== "number") continue;
      const why = implausible(values[code], field, p.threshold, p);
      if (!why) continue;
      const words = Object.assign({}, field, field.shown, {
        value: String(values[code]), before_zh: field.before.join("、") || "—", before_en: field.before.join(", ") || "—",
      });
      const fill = (text) => text.replace(/\{(\w+)\}/g, (all, name) => (name in words ? words[name] : all));
      out.push({ key: "plausibility:" + code, kind: "plausibility", code: code, importance: "warning",
        message_zh: fill(p.words[why][0]), message_en: fill(p.words[why][1]) });
    }
    return out;
  }

  // Each answer's own rules (its type and constraints, as the server stores them and hands them over in
  // `field_checks`, with the words of each refusal the server renders): what the server's `parse_value` would
  // refuse, for a form kept offline to be sent later. -> [{code, rule, message_zh, message_en}]
  function fieldProblems(form, checks) {
    const out = [];
    const integer = new RegExp("^(?:" + checks.patterns.integer + ")$");
    const decimal = new RegExp("^(?:" + checks.patterns.decimal + ")$");
    for (const code of Object.keys(checks.fields)) {
      const field = checks.fields[code];
      const said = (rule) => out.push({ code: code, rule: rule, message_zh: field.words[rule][0], message_en: field.words[rule][1] });
      const na = form.querySelector('[name="na__' + code + '"]');
      if (na && na.checked) {
        const reason = form.querySelector('[name="nar__' + code + '"]');
        if (!reason || !reason.value.trim()) said("na.reason");
        continue;
      }
      const inputs = Array.from(form.querySelectorAll('[name="v__' + code + '"]'));
      if (!inputs.length) continue; // not on this form
      const picked = inputs.filter((i) => (i.type === "radio" || i.type === "checkbox" ? i.checked : true));
      const texts = picked.map((i) => String(i.value).trim()).filter((t) => t !== "");
      const c = field.constraints;
      if (!texts.length) {
        if (c.required) said("required");
        continue;
      }
      const rule = field.type === "multi_choice" ? manyRule(texts, c) : oneRule(field.type, texts[0], c, integer, decimal);
      if (rule) said(rule);
    }
    return out;
  }

  function manyRule(texts, c) {
    if (texts.some((t) => c.choices.indexOf(t) < 0)) return "choice.invalid";
    return c.max_selected && texts.length > c.max_selected ? "choice.max_selected" : null;
  }

  // Digits as the server reads them: Python's \d and int() take full-width digits (a Chinese keyboard's), so the
  // phone folds them before reading a number or a date. Other scripts' digits are left to the server.
  function folded(text) {
    return text.replace(/[\uFF10-\uFF19]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0));
  }

  // A typed number as the server reads it: full-width digits folded, thousands separators dropped.
  function numberText(typed) {
    return folded(typed).replace(/[,，]/g, "");
  }

  function oneRule(type, typed, c, integer, decimal) {
    const text = folded(typed);
    const digits = numberText(typed);
    if (type === "integer" || type === "decimal") {
      if (!(type === "integer" ? integer : decimal).test(digits)) {
        // a whole number too long to keep: the range is the rule it breaks, as the server says
        if (type === "integer" && /^[+-]?\d+$/.test(digits)) return digits.startsWith("-") ? "min" : "max";
        return type + ".invalid";
      }
      const places = (digits.split(".")[1] || "").replace(/0+$/, "").length;
      if (type === "decimal" && places > (c.places === undefined ? 2 : c.places)) return "decimal.places";
      const n = parseFloat(digits);
      if (c.min !== undefined && c.min !== null && n < parseFloat(c.min)) return "min";
      if (c.max !== undefined && c.max !== null && n > parseFloat(c.max)) return "max";
      return null;
    }
    if (type === "text") {
      if (Array.from(typed).length > (c.max_length || 500)) return "text.max_length"; // characters, as Python counts
      let pattern = null;
      try {
        pattern = c.pattern ? new RegExp("^(?:" + c.pattern + ")$") : null;
      } catch (e) {
        pattern = null; // a pattern the browser reads otherwise: the server checks it on sending
      }
      // Python's \d and \w also take other scripts' digits and letters: a text beyond ASCII the browser's pattern
      // refuses is left to the server
      return pattern && !pattern.test(typed) && /^[\x00-\x7f]*$/.test(typed) ? "text.pattern" : null;
    }
    if (type === "choice") return c.choices.indexOf(text) < 0 ? "choice.invalid" : null;
    if (type === "date") {
      const m = text.replace(/[/.]/g, "-").match(/^(\d{4})-(\d{1,2})-(\d{1,2})$/) || text.match(/^(\d{4})年(\d{1,2})月(\d{1,2})日$/);
      const day = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : null;
      if (!day || day.getUTCMonth() !== +m[2] - 1 || day.getUTCDate() !== +m[3]) return "date.invalid";
      const iso = day.toISOString().slice(0, 10);
      if (c.min && iso < c.min) return "date.min";
      if (c.max && iso > c.max) return "date.max";
    }
    return null;
  }

  global.OneTableRules = {
    evaluate: evaluate, formValues: formValues, numberText: numberText, implausible: implausible, findings: findings, fieldProblems: fieldProblems,
  };
})(typeof window !== "undefined" ? window : globalThis);
