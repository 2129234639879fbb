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
        if (/^[+-]?\d+(\.\d+)?$/.test(text)) values[code] = parseFloat(text);
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

  global.OneTableRules = { evaluate: evaluate, formValues: formValues, implausible: implausible, findings: findings };
})(typeof window !== "undefined" ? window : globalThis);
