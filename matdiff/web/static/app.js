// The page behind `matdiff serve`: plain JavaScript, no build step, no network but its own server.
// It speaks only the JSON API (WEB_CONTRACT.md): POST /api/derive, POST /api/sheet, GET /api/info.
"use strict";

(function () {
  const DEBOUNCE_MS = 250;
  const $ = (id) => document.getElementById(id);

  const state = {
    variables: [],        // the last answer's variables
    userWrt: null,        // names the user ticked (null: follow the default)
    shapes: {},           // shapes the user edited, by name ("n,m")
    kind: "gradient",
    backend: "numpy",
    last: null,           // the last successful answer
    lastBody: null,       // the request that produced it
    seq: 0,               // the number of the latest request: older answers are dropped
    controller: null,     // its AbortController
    timer: null,
    pdflatex: false,
  };

  // ---- the request ----------------------------------------------------------------------------

  const present = (text, name) => {
    // does the name occur as a word of the text? (a guess before the server has answered)
    const esc = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp("(^|[^A-Za-z0-9_])" + esc + "($|[^A-Za-z0-9_])").test(text);
  };

  function defaultWrt(variables) {
    // what a student expects: the first matrix, else the first variable
    const m = variables.find((v) => v.kind === "matrix");
    const v = m || variables[0];
    return v ? [v.name] : [];
  }

  function wantedWrt(variables) {
    if (state.userWrt) {
      const names = new Set(variables.map((v) => v.name));
      const kept = state.userWrt.filter((n) => names.has(n));
      if (kept.length) return kept;
    }
    return defaultWrt(variables);
  }

  function guessMatrix(text) {
    // before any answer: the first capitalised name that is not a function, a transposition (^T) or
    // a LaTeX command, as the first matrix is likely to be; the answer corrects a wrong guess
    const re = /[A-Za-z_][A-Za-z0-9_]*/g;
    let m;
    while ((m = re.exec(text)) !== null) {
      const before = text[m.index - 1] || "";
      const after = text.slice(m.index + m[0].length).trimStart()[0] || "";
      if (/^[A-Z]/.test(m[0]) && !(before && "^\\".includes(before)) && after !== "(" && !["T", "I"].includes(m[0])) return [m[0]];
    }
    return [];
  }

  function requestBody(text, wrt) {
    const shapes = {};
    for (const [name, dims] of Object.entries(state.shapes)) {
      if (present(text, name)) shapes[name] = dims;
    }
    return {expr: text, wrt: wrt, kind: state.kind, shapes: shapes};
  }

  function schedule() {
    state.inputAt = performance.now();                    // the last keystroke (tests measure from it)
    clearTimeout(state.timer);
    state.timer = setTimeout(update, DEBOUNCE_MS);
  }

  async function update() {
    clearTimeout(state.timer);
    const text = $("expr").value;
    if (!text.trim()) {
      if (state.controller) state.controller.abort();
      state.seq++;
      showError(null);
      setBusy(false);
      return;
    }
    // a first guess from the last answer, kept only where the names are still in the text
    let wrt = wantedWrt(state.variables).filter((n) => present(text, n));
    if (!wrt.length && !state.userWrt) wrt = guessMatrix(text);
    let answer = await derive(requestBody(text, wrt));
    if (!answer) return;                                   // aborted, or older than the latest
    if (!answer.body.ok && wrt.length && answer.body.error && answer.body.error.type === "DerivativeError") {
      answer = await derive(requestBody(text, []));        // the guess named a variable that is not there
      if (!answer) return;
    }
    if (answer.body.ok) {
      const want = wantedWrt(answer.body.variables || []);
      if (!sameList(want, answer.body.wrt || [])) {
        state.variables = answer.body.variables || [];
        renderVariables(state.variables, want);           // show the choices while the result comes
        const again = await derive(requestBody(text, want));
        if (!again) return;
        answer = again;
      }
    }
    show(answer);
  }

  const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  async function derive(body) {
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const seq = ++state.seq;
    setBusy(true);
    try {
      const r = await fetch("/api/derive", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body), signal: controller.signal,
      });
      let data;
      try { data = await r.json(); } catch (e) {
        data = {ok: false, error: {message: "the server answered " + r.status + " " + r.statusText}};
      }
      if (seq !== state.seq) return null;
      return {status: r.status, body: data, request: body};
    } catch (e) {
      if (e.name === "AbortError" || seq !== state.seq) return null;
      return {status: 0, body: {ok: false, error: {message: "no answer from the matdiff server (" + e.message + ")"}}, request: body};
    } finally {
      if (seq === state.seq) setBusy(false);
    }
  }

  function setBusy(on) {
    $("busy").hidden = !on;
  }

  // ---- showing an answer ----------------------------------------------------------------------

  function show(answer) {
    const t0 = performance.now();
    try { showAnswer(answer); } finally {
      state.shownAt = performance.now();
      state.renderMs = state.shownAt - t0;
    }
  }

  function showAnswer(answer) {
    const data = answer.body;
    if (!data.ok) {
      showError(data.error || {message: "unknown error"});
      return;
    }
    showError(null);
    state.last = data;
    state.lastBody = answer.request;
    state.variables = data.variables || [];
    renderVariables(state.variables, data.wrt || []);
    renderUnderstood(data);
    renderNotes(data.notes || []);
    renderResult(data);
    renderCheck(data.check);
    renderGraph(data.graph);
    renderSteps(data.steps, data);
    renderCode(data.code, data);
    const partErrors = Object.entries(data.errors || {}).filter(([part]) => part !== "graph")
      .map(([part, msg]) => part + ": " + msg);
    $("part-errors").textContent = partErrors.join(" · ");
    const derived = data.result != null;
    $("dl-tex").disabled = !(derived && data.kind === "gradient");
    $("dl-pdf").disabled = !(derived && data.kind === "gradient" && state.pdflatex);
    $("dl-py").disabled = !(data.code && data.code[state.backend]);
  }

  function showError(err) {
    const box = $("error");
    const results = $("results");
    if (!err) {
      box.hidden = true;
      results.classList.remove("stale");
      return;
    }
    $("error-message").textContent = err.message || "error";
    const caret = $("error-caret");
    caret.textContent = err.caret || "";
    caret.hidden = !err.caret;
    box.hidden = false;
    results.classList.add("stale");                      // the old results stay, dimmed
  }

  function math(latex, el, display) {
    try {
      katex.render(latex, el, {displayMode: !!display, throwOnError: false, output: "htmlAndMathml"});
    } catch (e) {
      el.textContent = latex;
    }
    return el;
  }

  function renderUnderstood(data) {
    const el = $("understood");
    el.textContent = "";
    if (!data.input || !data.input.latex) return;
    const label = document.createElement("span");
    label.className = "muted small";
    label.textContent = "read as ";
    el.appendChild(label);
    el.appendChild(math(data.input.latex, document.createElement("span"), false));
    if (data.output) {
      const out = document.createElement("span");
      out.className = "muted small";
      out.textContent = "  (value: " + data.output + ")";
      el.appendChild(out);
    }
  }

  function renderVariables(variables, wrt) {
    // rows are kept by name and updated in place: a shape being edited keeps its focus and caret
    const body = $("vars");
    const rows = new Map(Array.from(body.children).map((tr) => [tr.dataset.name, tr]));
    const wanted = variables.map((v) => rows.get(v.name) || newRow(v));
    for (const [name, tr] of rows) if (!variables.some((v) => v.name === name)) tr.remove();
    wanted.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null); });
    variables.forEach((v, i) => {
      const tr = wanted[i];
      tr.querySelector("input.wrt").checked = wrt.includes(v.name);
      tr.querySelector(".var-kind").textContent = " " + v.kind;
      const shape = tr.querySelector("input.shape");
      const inferred = (v.shape || []).join(",") + (v.structure ? "," + v.structure : "");
      if (!(v.name in state.shapes)) shape.dataset.inferred = inferred;   // what matdiff reads by itself
      if (document.activeElement !== shape) shape.value = v.name in state.shapes ? state.shapes[v.name] : inferred;
      shape.title = "inferred: " + (v.shape_text || inferred || "scalar");
      tr.querySelector(".shape-text").textContent = " " + (v.shape_text || "scalar");
    });
  }

  function newRow(v) {
    const tr = document.createElement("tr");
    tr.dataset.name = v.name;
    const c1 = document.createElement("td");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = "wrt-" + v.name;
    box.className = "wrt";
    box.value = v.name;
    box.addEventListener("change", onWrtChange);
    c1.appendChild(box);
    const c2 = document.createElement("td");
    const lab = document.createElement("label");
    lab.htmlFor = box.id;
    lab.className = "var-name";
    lab.textContent = v.name;
    const kind = document.createElement("span");
    kind.className = "muted small var-kind";
    c2.append(lab, kind);
    const c3 = document.createElement("td");
    const shape = document.createElement("input");
    shape.type = "text";
    shape.id = "shape-" + v.name;
    shape.className = "shape";
    shape.spellcheck = false;
    shape.autocomplete = "off";
    shape.setAttribute("aria-label", "shape of " + v.name);
    shape.addEventListener("input", () => {
      // a shape set back to the inferred one is no longer the user's: it follows the text again
      const value = shape.value.trim();
      if (value === shape.dataset.inferred) delete state.shapes[v.name]; else state.shapes[v.name] = value;
      schedule();
    });
    const shown = document.createElement("span");
    shown.className = "muted small shape-text";
    c3.append(shape, shown);
    tr.append(c1, c2, c3);
    return tr;
  }

  function onWrtChange() {
    const ticked = Array.from(document.querySelectorAll("#vars input.wrt:checked")).map((b) => b.value);
    state.userWrt = ticked.length ? ticked : null;
    update();
  }

  function renderNotes(notes) {
    const ul = $("notes");
    ul.textContent = "";
    for (const n of notes) {
      const li = document.createElement("li");
      li.textContent = n;
      ul.appendChild(li);
    }
  }

  function renderResult(data) {
    const el = $("result");
    el.textContent = "";
    if (data.result) {
      math(data.result.latex, el, true);
      $("result-text").textContent = data.result.text;
      $("result-text-box").hidden = false;
    } else {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = data.wrt && data.wrt.length ? "no result" : "Choose a variable to differentiate with respect to.";
      el.appendChild(p);
      $("result-text-box").hidden = true;
    }
  }

  function renderCheck(check) {
    const el = $("check");
    const more = $("check-more");
    if (!check) { el.hidden = true; el.className = "check"; more.hidden = true; return; }
    const lines = String(check.text || "").split("\n");
    el.hidden = false;
    el.className = "check " + (check.ok ? "passed" : "failed");
    el.textContent = (check.ok ? "✓ " : "✗ ") + lines[0];
    el.title = check.text;
    more.hidden = lines.length < 2;
    $("check-text").textContent = check.text;
  }

  // ---- the graph ------------------------------------------------------------------------------

  function cleanSvg(svgText) {
    // the server's SVG, parsed as data: no script, no event handlers, no outside references
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = doc.documentElement;
    if (!svg || svg.nodeName.toLowerCase() !== "svg") return null;
    svg.querySelectorAll("script, foreignObject").forEach((n) => n.remove());
    for (const el of [svg, ...svg.querySelectorAll("*")]) {
      for (const a of Array.from(el.attributes)) {
        const n = a.name.toLowerCase();
        if (n.startsWith("on")) el.removeAttribute(a.name);
        if ((n === "href" || n === "xlink:href") && !a.value.startsWith("#")) el.removeAttribute(a.name);
      }
    }
    return document.importNode(svg, true);
  }

  function renderGraph(graph) {
    const el = $("graph");
    el.textContent = "";
    nodeInfo(null);
    if (!graph || !graph.svg) {
      const p = document.createElement("p");
      p.className = "muted";
      const why = state.last && state.last.errors && state.last.errors.graph;
      p.textContent = why ? why : state.kind === "gradient" ? "" : "The graph is drawn for gradients.";
      el.appendChild(p);
      return;
    }
    const svg = cleanSvg(graph.svg);
    if (!svg) return;
    svg.setAttribute("role", "img");
    if (!svg.getAttribute("aria-label")) svg.setAttribute("aria-label", "computational graph");
    const w = Number(graph.width || svg.getAttribute("width"));
    if (w > 0) svg.style.width = Math.round(1.3 * w) + "px";    // a little larger than drawn: labels read at a glance
    el.appendChild(svg);
    const byId = new Map((graph.nodes || []).map((n) => [String(n.id), n]));
    let pinned = null;
    const nodeOf = (e) => {
      const g = e.target.closest && e.target.closest(".node");
      return g && svg.contains(g) ? g : null;
    };
    svg.addEventListener("mouseover", (e) => {
      const g = nodeOf(e);
      if (g) nodeInfo(byId.get(g.dataset.id) || {id: g.dataset.id});
    });
    svg.addEventListener("mouseleave", () => nodeInfo(pinned));
    svg.addEventListener("click", (e) => {
      const g = nodeOf(e);
      svg.querySelectorAll(".node.pinned").forEach((n) => n.classList.remove("pinned"));
      pinned = g ? byId.get(g.dataset.id) || null : null;
      if (g) g.classList.add("pinned");
      nodeInfo(pinned);
    });
  }

  function nodeInfo(node) {
    const el = $("node-info");
    el.textContent = "";
    if (!node) {
      const p = document.createElement("p");
      p.className = "muted small";
      p.textContent = "Hover or click a node: its value and adjoint at the check's random inputs.";
      el.appendChild(p);
      return;
    }
    const h = document.createElement("p");
    h.className = "node-title";
    if (node.latex) math(node.latex, h, false); else h.textContent = node.label || node.id;
    el.appendChild(h);
    const dl = document.createElement("dl");
    const row = (k, v) => {
      if (v === undefined || v === null || v === "") return;
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      dl.append(dt, dd);
    };
    row("definition", node.definition);
    row("role", node.role + (node.wrt ? " (with respect to)" : ""));
    row("shape", node.shape);
    const rows = (v) => (typeof v === "string" ? v.replace(/;\s*/g, ";\n") : v);   // a matrix, one row a line
    row("value", rows(node.value));
    row("adjoint", rows(node.adjoint));
    el.appendChild(dl);
  }

  // ---- the steps ------------------------------------------------------------------------------

  function inline(parts, el) {
    for (const part of parts || []) {
      if (part.math !== undefined) {
        const s = document.createElement("span");
        s.className = "inline-math";
        el.appendChild(math(part.math, s, false));
      } else if (part.emph !== undefined) {
        const em = document.createElement("em");
        em.textContent = part.emph;
        el.appendChild(em);
      } else if (part.text !== undefined) {
        el.appendChild(document.createTextNode(part.text));
      }
    }
    return el;
  }

  function renderSteps(steps, data) {
    const el = $("steps");
    el.textContent = "";
    if (!steps) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = data.result ? "Step-by-step solutions are written for gradients." : "";
      el.appendChild(p);
      return;
    }
    for (const b of steps) {
      if (b.type === "heading") {
        const h = document.createElement(b.level === 1 ? "h3" : "h4");
        if (b.parts) inline(b.parts, h); else h.textContent = b.text || "";
        el.appendChild(h);
      } else if (b.type === "paragraph") {
        el.appendChild(inline(b.parts, document.createElement("p")));
      } else if (b.type === "display") {
        const d = document.createElement("div");
        d.className = "display";
        const m = document.createElement("div");
        m.className = "display-math";
        math(b.latex, m, true);
        d.appendChild(m);
        if (b.notes && b.notes.some((n) => n)) {
          const notes = document.createElement("ol");
          notes.className = "display-notes";
          for (const n of b.notes) {
            const li = document.createElement("li");
            li.textContent = n || "";
            notes.appendChild(li);
          }
          d.appendChild(notes);
        }
        el.appendChild(d);
      } else if (b.type === "list") {
        const ul = document.createElement("ul");
        for (const item of b.items || []) ul.appendChild(inline(item, document.createElement("li")));
        el.appendChild(ul);
      } else if (b.type === "graph") {
        // where the sheet draws the computational graph: the same SVG as the graph panel
        const fig = document.createElement("figure");
        fig.className = "steps-graph";
        const svg = data.graph && data.graph.svg ? cleanSvg(data.graph.svg) : null;
        if (svg) {
          svg.setAttribute("role", "img");
          svg.setAttribute("aria-label", "computational graph");
          fig.appendChild(svg);
        } else {
          fig.className += " muted small";
          fig.textContent = "(the computational graph: " + ((data.errors && data.errors.graph) || "not drawn") + ")";
        }
        el.appendChild(fig);
      } else if (b.type === "table") {
        const t = document.createElement("table");
        t.className = "steps-table";
        (b.rows || []).forEach((row, i) => {
          const tr = document.createElement("tr");
          for (const cell of row) tr.appendChild(inline(cell, document.createElement(b.header && i === 0 ? "th" : "td")));
          t.appendChild(tr);
        });
        el.appendChild(t);
      }
    }
  }

  // ---- the code -------------------------------------------------------------------------------

  function renderCode(code, data) {
    const el = $("code");
    if (!code) {
      el.textContent = data.result ? (data.errors && data.errors.code) || "Code is generated for gradients." : "";
      return;
    }
    el.textContent = code[state.backend] || (data.errors && data.errors.code) || "";
  }

  function selectTab(backend) {
    state.backend = backend;
    for (const b of document.querySelectorAll('[role="tab"]')) {
      const on = b.dataset.backend === backend;
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
    }
    if (state.last) renderCode(state.last.code, state.last);
    $("dl-py").disabled = !(state.last && state.last.code && state.last.code[backend]);
  }

  async function copyCode() {
    const text = $("code").textContent;
    const status = $("copy-status");
    let ok = false;
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); ok = true; } catch (e) { ok = false; }
    }
    if (!ok) {                                            // the old way: select a hidden textarea
      const ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "fixed";
      ta.style.opacity = "0";
      document.body.appendChild(ta);
      ta.select();
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      ta.remove();
    }
    status.textContent = ok ? "copied" : "select the code and copy it by hand";
    setTimeout(() => { status.textContent = ""; }, 2000);
  }

  // ---- downloads ------------------------------------------------------------------------------

  async function fetchSheet(format) {
    const body = Object.assign({}, state.lastBody, {format: format});
    const r = await fetch("/api/sheet", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    });
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const d = await r.json(); if (d.error) msg = d.error.message; } catch (e) { /* keep the status */ }
      throw new Error(msg);
    }
    return r.blob();
  }

  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  const baseName = () => "matdiff_" + ((state.last && state.last.wrt || []).join("_") || "f");

  async function download(format) {
    if (!state.lastBody) return;
    try {
      save(await fetchSheet(format), baseName() + "." + format);
    } catch (e) {
      showError({message: "the ." + format + " download failed: " + e.message});
    }
  }

  function downloadPy() {
    const code = state.last && state.last.code && state.last.code[state.backend];
    if (code) save(new Blob([code], {type: "text/x-python"}), baseName() + "_" + state.backend + ".py");
  }

  // ---- start ----------------------------------------------------------------------------------

  async function info() {
    try {
      const r = await fetch("/api/info");
      const d = await r.json();
      state.pdflatex = !!d.pdflatex;
    } catch (e) {
      state.pdflatex = false;
    }
    const note = $("pdf-note");
    note.hidden = state.pdflatex;
    note.textContent = state.pdflatex ? "" : "PDF needs pdflatex, which the server does not have";
    $("dl-pdf").title = note.textContent;
    if (!state.pdflatex) $("dl-pdf").disabled = true;
  }

  function warmUp() {
    // the server's first derivation loads the sheet, the check and the code generator (~0.2 s):
    // pay that while the student starts typing, not after the first formula
    fetch("/api/derive", {method: "POST", headers: {"Content-Type": "application/json"},
                          body: JSON.stringify({expr: "x^T x", wrt: ["x"], kind: "gradient"})}).catch(() => {});
  }

  function start() {
    $("expr").addEventListener("input", schedule);
    for (const r of document.querySelectorAll('input[name="kind"]')) {
      r.addEventListener("change", () => { state.kind = r.value; update(); });
    }
    for (const b of document.querySelectorAll('[role="tab"]')) {
      b.addEventListener("click", () => selectTab(b.dataset.backend));
      b.addEventListener("keydown", (e) => {
        const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
        const i = tabs.indexOf(b);
        const j = e.key === "ArrowRight" ? (i + 1) % tabs.length : e.key === "ArrowLeft" ? (i + tabs.length - 1) % tabs.length : -1;
        if (j >= 0) { tabs[j].focus(); selectTab(tabs[j].dataset.backend); }
      });
    }
    $("copy").addEventListener("click", copyCode);
    $("dl-tex").addEventListener("click", () => download("tex"));
    $("dl-pdf").addEventListener("click", () => download("pdf"));
    $("dl-py").addEventListener("click", downloadPy);
    selectTab("numpy");
    info();
    warmUp();
    const initial = new URLSearchParams(location.search).get("expr");
    if (initial) { $("expr").value = initial; update(); }
  }

  // for scripts and tests: the page's own calls
  window.matdiffPage = {fetchSheet: fetchSheet, update: update, state: state};

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
