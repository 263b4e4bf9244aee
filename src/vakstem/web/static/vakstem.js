// Vakstem respondent pages: optional enhancements. Every page works without this file.
// - a "saving…" state on submit that also stops a double click from sending the page twice
// - a live character counter for long answers
// - focus on the error summary so screen-reader and keyboard users start there
(function () {
  "use strict";
  // The next page is sent in answer to the page's POST, at the same address. A plain history
  // entry in its place makes reload and back fetch the page again (the server shows whatever
  // page is current) instead of offering to send the form a second time.
  if (window.history && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.href);
  }
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      var button = event.submitter || form.querySelector("button[type=submit]");
      if (button && form.dataset.saving) {
        button.textContent = form.dataset.saving;
      }
      // Disabled only after the submit has started, so the button's own value is still sent.
      window.setTimeout(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  // A page restored from the back/forward cache must be usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form").forEach(function (form) {
      delete form.dataset.sent;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  });
  document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
    var counter = document.getElementById(area.dataset.counter);
    if (!counter || !counter.dataset.template) { return; }
    counter.setAttribute("aria-live", "polite");
    var update = function () {
      counter.textContent = counter.dataset.template.replace("{n}", String(area.value.length));
    };
    area.addEventListener("input", update);
    update();
  });
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
// Live conditions: items whose `relevant` reads answers on this page show and hide as the
// respondent answers (data from vakstem.web.conditions_json). The evaluator follows
// vakstem.instrument.expressions exactly; hidden items keep their inputs (the server drops them).
var vakstemConditions = (function () {
  "use strict";
  // Python's str.isspace() characters, so trimming and splitting agree with the server.
  var WS = "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
  var NUMBER = new RegExp("^" + WS + "*-?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)" + WS + "*$");
  var DATE = new RegExp("^" + WS + "*([0-9]{4})-([0-9]{2})-([0-9]{2})" + WS + "*$");
  var SPACES = new RegExp(WS + "+");
  var EDGES = new RegExp("^" + WS + "+|" + WS + "+$", "g");
  function Unknown() {}

  function words(s) { return s.replace(EDGES, "").split(SPACES).filter(function (w) { return w !== ""; }); }
  function isoDays(y, m, d) {
    if (y < 1) { return NaN; }
    var t = new Date(0);
    t.setUTCFullYear(y, m - 1, d);
    if (t.getUTCFullYear() !== y || t.getUTCMonth() !== m - 1 || t.getUTCDate() !== d) { return NaN; }
    return t.getTime() / 86400000;
  }
  function num(v) {
    if (typeof v === "boolean") { return v ? 1 : 0; }
    if (typeof v === "number") { return v; }
    if (NUMBER.test(v)) { return Number(v.replace(EDGES, "")); }
    var m = DATE.exec(v);
    return m ? isoDays(+m[1], +m[2], +m[3]) : NaN;
  }
  function str(v) {
    if (typeof v === "boolean") { return v ? "true" : "false"; }
    if (typeof v === "string") { return v; }
    if (!isFinite(v)) { return String(v); }
    if (Math.floor(v) === v) { return Math.abs(v) < 1e21 ? String(v === 0 ? 0 : v) : BigInt(v).toString(); }
    var s = String(v), e = /^(-?)(\d)(?:\.(\d+))?e-(\d+)$/.exec(s);
    // Python writes small numbers out in full (0.0000001), JavaScript as 1e-7.
    return e ? e[1] + "0." + "0".repeat(+e[4] - 1) + e[2] + (e[3] || "") : s;
  }
  function bool(v) {
    if (typeof v === "boolean") { return v; }
    if (typeof v === "number") { return !(v === 0 || isNaN(v)); }
    return v !== "";
  }
  function equal(a, b) {
    if (typeof a === "boolean" || typeof b === "boolean") { return bool(a) === bool(b); }
    if (typeof a === "number" || typeof b === "number") { return num(a) === num(b); }
    return a === b;
  }
  function compare(op, a, b) {
    if (op === "=") { return equal(a, b); }
    if (op === "!=") { return !equal(a, b); }
    var x = num(a), y = num(b);
    return op === "<" ? x < y : op === "<=" ? x <= y : op === ">" ? x > y : x >= y;
  }
  function arithmetic(op, a, b) {
    var x = num(a), y = num(b);
    if (op === "+") { return x + y; }
    if (op === "-") { return x - y; }
    if (op === "*") { return x * y; }
    if (y === 0 || isNaN(y)) { return NaN; }
    return op === "div" ? x / y : x % y;
  }
  function round(x, digits) {
    if (isNaN(x) || !isFinite(x) || isNaN(digits)) { return isNaN(digits) ? NaN : x; }
    var places = Math.trunc(Math.max(-20, Math.min(20, digits)));
    var scale = Number("1e" + places), r = x * scale + 0.5;
    // Python's math.floor refuses infinity: the server's answer is NaN.
    return isFinite(r) ? Math.floor(r) / scale : NaN;
  }
  function regex(value, pattern) {
    var re;
    try { re = new RegExp(pattern, "u"); } catch (err) { throw new Unknown(); }
    return re.test(value);
  }
  var FUNCTIONS = {
    "selected": function (v) { return words(str(v[0])).indexOf(str(v[1]).replace(EDGES, "")) >= 0; },
    "count-selected": function (v) { return words(str(v[0])).length; },
    "string-length": function (v) { return Array.from(str(v[0])).length; },
    "regex": function (v) { return regex(str(v[0]), str(v[1])); },
    "not": function (v) { return !bool(v[0]); },
    "number": function (v) { return num(v[0]); },
    "string": function (v) { return str(v[0]); },
    "boolean": function (v) { return bool(v[0]); },
    "int": function (v) { var x = num(v[0]); return isFinite(x) ? Math.trunc(x) : x; },
    "round": function (v) { return round(num(v[0]), v.length > 1 ? num(v[1]) : 0); },
    "concat": function (v) { return v.map(str).join(""); },
    "true": function () { return true; },
    "false": function () { return false; }
  };
  function evaluate(node, values) {
    var kind = node[0];
    if (kind === "n") { return Number(node[1]); }
    if (kind === "s") { return node[1]; }
    if (kind === "v") { return Object.prototype.hasOwnProperty.call(values, node[1]) ? values[node[1]] : ""; }
    if (kind === "-") { return -num(evaluate(node[1], values)); }
    if (kind === "b") {
      var op = node[1];
      if (op === "or") { return bool(evaluate(node[2], values)) || bool(evaluate(node[3], values)); }
      if (op === "and") { return bool(evaluate(node[2], values)) && bool(evaluate(node[3], values)); }
      var a = evaluate(node[2], values), b = evaluate(node[3], values);
      return /^(=|!=|<|<=|>|>=)$/.test(op) ? compare(op, a, b) : arithmetic(op, a, b);
    }
    var name = node[1], args = node.slice(2);
    if (name === "if") { return evaluate(bool(evaluate(args[0], values)) ? args[1] : args[2], values); }
    if (name === "coalesce") {
      var first = evaluate(args[0], values), text = str(first);
      return text !== "" && text !== "NaN" ? first : evaluate(args[1], values);
    }
    var fn = FUNCTIONS[name];
    if (!fn) { throw new Unknown(); }
    return fn(args.map(function (arg) { return evaluate(arg, values); }));
  }

  // A form field as the service would store it; what it would refuse counts as unanswered.
  function read(form, name, kind) {
    var fields = Array.prototype.filter.call(form.elements, function (el) { return el.name === name; });
    var picked = fields.filter(function (el) {
      return (el.type !== "radio" && el.type !== "checkbox") || el.checked;
    }).map(function (el) { return el.value; });
    if (Array.isArray(kind)) {
      var order = kind[1].map(String);
      return picked.filter(function (c) { return order.indexOf(c) >= 0; })
        .sort(function (x, y) { return order.indexOf(x) - order.indexOf(y); }).join(" ");
    }
    var raw = (picked.length ? picked[picked.length - 1] : "").replace(/\r\n?/g, "\n").replace(EDGES, "");
    if (raw === "") { return ""; }
    if (kind === "c" || kind === "i") { return /^[+-]?[0-9]+$/.test(raw) ? Number(raw) : ""; }
    if (kind === "d") {
      var x = /^[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)$/.test(raw) ? Number(raw.replace(",", ".")) : NaN;
      return isFinite(x) ? x : "";
    }
    if (kind === "t") {
      var m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(raw);
      return m && !isNaN(isoDays(+m[1], +m[2], +m[3])) ? raw : "";
    }
    return raw;
  }

  function apply(form, data) {
    var values = {}, hidden = {}, changed = true;
    Object.keys(data.vars).forEach(function (name) { values[name] = read(form, name, data.vars[name]); });
    // As the service: a hidden item's answers count as unanswered, which may hide more items.
    while (changed) {
      changed = false;
      Object.keys(data.items).forEach(function (id) {
        if (hidden[id]) { return; }
        var shown;
        try { shown = bool(evaluate(data.items[id], values)); } catch (err) {
          if (!(err instanceof Unknown)) { throw err; }
          shown = true;
        }
        if (!shown) {
          hidden[id] = true;
          changed = true;
          (data.owners[id] || []).forEach(function (name) { values[name] = ""; });
        }
      });
    }
    Object.keys(data.items).forEach(function (id) {
      var el = document.getElementById("item-" + id);
      if (el) { el.hidden = !!hidden[id]; }
    });
  }

  var block = document.getElementById("vakstem-conditions");
  var form = document.getElementById("answers");
  if (block && form) {
    var data = JSON.parse(block.textContent);
    var update = function () { apply(form, data); };
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }
  return { evaluate: evaluate, apply: apply };
})();
