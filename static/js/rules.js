// OneTable's validation rules evaluated in the browser with the semantics of reporting/catalogue/rules.py; both
// pass the same cases (reporting/catalogue/rule_cases.json). A rule is data (its sides' trees, operator,
// missing-value strategy, field codes): nothing here is specific to one rule. Needs expressions.js.
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

  global.OneTableRules = { evaluate: evaluate, formValues: formValues };
})(typeof window !== "undefined" ? window : globalThis);
