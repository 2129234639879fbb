// OneTable's expression trees evaluated in the browser, offline, with the semantics of the server's evaluator
// (reporting/catalogue/expressions.py); both pass the same cases (reporting/catalogue/expression_cases.json).
// The browser only evaluates: formulas are parsed and validated on the server, which sends the tree.
// Numbers are JavaScript numbers; results are compared at OneTableExpressions.SHOWN_PLACES decimal places.
(function (global) {
  "use strict";
  const SHOWN_PLACES = 6;
  const MAX_SHOWN = 1e22; // expressions.MAX_SHOWN_DIGITS: a result this large is empty, "overflow"
  const MAX_DEPTH = 64;

  class Empty {
    constructor(reason) {
      this.reason = reason;
    }
  }

  const isNumber = (v) => typeof v === "number";
  const codeOf = (node) => String(node.code || node.op);

  function number(value, code) {
    if (typeof value === "number" && Number.isFinite(value)) return value;
    if (typeof value === "string" && /^[+-]?\d+(\.\d+)?$/.test(value.trim())) return parseFloat(value);
    throw new Empty("invalid:" + code);
  }

  function truth(node, env, values, depth) {
    const value = val(node, env, values, depth + 1);
    if (typeof value !== "boolean") throw new Empty("invalid:" + codeOf(node));
    return value;
  }

  function records(node, env, depth) {
    const ledger = node.ledger;
    if (!env.records || !Object.prototype.hasOwnProperty.call(env.records, ledger)) {
      throw new Empty("missing:" + ledger);
    }
    let total = 0;
    let count = 0;
    for (const record of env.records[ledger]) {
      if (node.where !== null && node.where !== undefined) {
        let matched;
        try {
          matched = truth(node.where, env, record, depth);
        } catch (e) {
          if (e instanceof Empty && e.reason.startsWith("missing:")) continue;
          throw e;
        }
        if (!matched) continue;
      }
      count += 1;
      const v = record[node.field];
      if (node.op === "sum_records" && v !== null && v !== undefined) total += number(v, node.field);
    }
    return node.op === "count_records" ? count : total;
  }

  function aggregateKey(node) {
    return node.op === "count_units" ? "count_units" : node.op + ":" + node.field;
  }

  function rollup(node, env) {
    const key = aggregateKey(node);
    if (env.aggregates && Object.prototype.hasOwnProperty.call(env.aggregates, key)) {
      const v = env.aggregates[key];
      if (v === null || v === undefined) throw new Empty("missing:" + (node.field || "units"));
      return number(v, key);
    }
    if (!env.units) throw new Empty("missing:units");
    if (node.op === "count_units") return env.units.length;
    const present = env.units.map((u) => u[node.field]).filter((v) => v !== null && v !== undefined);
    if (!present.length) throw new Empty("missing:" + node.field);
    if (node.op === "count_yes") return present.filter((v) => v === true).length;
    return present.reduce((sum, v) => sum + number(v, node.field), 0);
  }

  function val(node, env, values, depth) {
    env.steps += 1;
    if (depth > 2 * MAX_DEPTH || env.steps > 1000000) throw new Empty("too_deep");
    const op = node.op;
    const args = node.args || [];
    switch (op) {
      case "num":
        return number(node.value, "num");
      case "str":
      case "bool":
        return node.value;
      case "field": {
        const v = values[node.code];
        if (v === null || v === undefined) throw new Empty("missing:" + node.code);
        return v;
      }
      case "indicator": {
        const code = node.code;
        if (env.active.has(code) || !env.indicators[code]) throw new Empty("missing:" + code);
        env.active.add(code);
        try {
          return val(env.indicators[code], env, values, depth + 1);
        } finally {
          env.active.delete(code);
        }
      }
      case "and":
        return truth(args[0], env, values, depth) && truth(args[1], env, values, depth);
      case "or":
        return truth(args[0], env, values, depth) || truth(args[1], env, values, depth);
      case "not":
        return !truth(args[0], env, values, depth);
      case "if":
        return val(truth(args[0], env, values, depth) ? args[1] : args[2], env, values, depth + 1);
      case "count_records":
      case "sum_records":
        return records(node, env, depth);
      case "sum_units":
      case "count_units":
      case "count_yes":
        return rollup(node, env);
      default:
        break;
    }
    const operands = args.map((a) => val(a, env, values, depth + 1));
    if (op === "neg") return -number(operands[0], codeOf(args[0]));
    if (op === "=" || op === "!=") {
      const [l, r] = operands;
      const same = isNumber(l) && isNumber(r) ? l === r : l === r;
      return op === "=" ? same : !same;
    }
    const l = number(operands[0], codeOf(args[0]));
    const r = number(operands[1], codeOf(args[1]));
    switch (op) {
      case "+":
        return l + r;
      case "-":
        return l - r;
      case "*":
        return l * r;
      case "/":
        if (r === 0) throw new Empty("division_by_zero");
        return l / r;
      case "<":
        return l < r;
      case "<=":
        return l <= r;
      case ">":
        return l > r;
      case ">=":
        return l >= r;
      default:
        throw new Empty("invalid_tree");
    }
  }

  // A number as shown: SHOWN_PLACES decimal places at most, no trailing zeros ("3.333333", "0.5", "12").
  function shown(value) {
    let text = value.toFixed(SHOWN_PLACES);
    if (text.indexOf(".") >= 0) text = text.replace(/0+$/, "").replace(/\.$/, "");
    return text === "-0" ? "0" : text;
  }

  // evaluate(tree, {values, records, units, aggregates, indicators}) -> {value, reason}; never throws.
  function evaluate(tree, inputs) {
    const given = inputs || {};
    const env = {
      records: given.records || null,
      units: given.units || null,
      aggregates: given.aggregates || null,
      indicators: given.indicators || {},
      steps: 0,
      active: new Set(),
    };
    try {
      const value = val(tree, env, given.values || {}, 0);
      if (typeof value === "number" && !Number.isFinite(value)) return { value: null, reason: "invalid_tree" };
      if (typeof value === "number" && Math.abs(value) >= MAX_SHOWN) return { value: null, reason: "overflow" };
      return { value: value, reason: "" };
    } catch (e) {
      if (e instanceof Empty) return { value: null, reason: e.reason };
      return { value: null, reason: "invalid_tree" };
    }
  }

  global.OneTableExpressions = { evaluate: evaluate, shown: shown, SHOWN_PLACES: SHOWN_PLACES };
})(typeof window !== "undefined" ? window : globalThis);
