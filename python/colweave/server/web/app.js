// colweave's search page: plain JavaScript, no build step, no network access beyond this server.
// It calls GET /v1/schema, POST /v1/colweave/search, POST /v1/colweave/explain and
// GET /v1/colweave/image/{collection}/{id}; the API key (if any) travels in the Authorization header,
// is kept in sessionStorage for this tab only, and never appears in a URL.
"use strict";
(() => {
  const KEY = "colweave.apiKey";
  const $ = (id) => document.getElementById(id);
  const state = {
    classes: {},      // name -> {props: {name: type}, blobs: [...], title, page, image}
    results: [],
    collection: "",
    query: "",
    current: -1,
    thumbUrls: [],
    pageUrl: null,
    explain: null,    // the last explanation of the open result
    words: [],        // [{label, tokens: [index...]}]
    openSeq: 0,       // guards against answers to superseded requests
  };

  // -- HTTP ---------------------------------------------------------------------------------------
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const key = sessionStorage.getItem(KEY);
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  async function request(path, opts) {
    opts = opts || {};
    const res = await fetch(path, Object.assign({}, opts, { headers: headers(opts.headers) }));
    if (!res.ok) {
      let msg = res.status + " " + res.statusText;
      try {
        const j = await res.json();
        msg = (j.error && j.error[0] && j.error[0].message) || j.detail || msg;
      } catch (_) { /* not JSON */ }
      const err = new Error(msg);
      err.status = res.status;
      throw err;
    }
    return res;
  }

  async function getJson(path) { return (await request(path)).json(); }

  async function postJson(path, body) {
    const res = await request(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    return res.json();
  }

  async function imageUrl(collection, id, size) {
    const res = await request(
      "/v1/colweave/image/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id) + "?size=" + size);
    return URL.createObjectURL(await res.blob());
  }

  function showError(err) {
    const box = $("error");
    if (!err) { box.hidden = true; box.textContent = ""; return; }
    box.hidden = false;
    box.textContent = err.status === 401
      ? "The server needs an API key (" + err.message + "): enter it above."
      : String(err.message || err);
    if (err.status === 401) $("api-key").focus();
  }

  function status(text) { $("status").textContent = text; }

  // -- API key ------------------------------------------------------------------------------------
  function showKeyState() {
    $("key-state").textContent = sessionStorage.getItem(KEY) ? "key set for this tab" : "no key";
  }
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const k = $("api-key").value.trim();
    if (k) sessionStorage.setItem(KEY, k); else sessionStorage.removeItem(KEY);
    $("api-key").value = "";
    showKeyState();
    loadSchema();
  });
  $("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    showKeyState();
  });

  // -- collections ----------------------------------------------------------------------------------
  function describeClass(c) {
    const props = {};
    for (const p of c.properties || []) props[p.name] = (p.dataType || ["text"])[0];
    const names = Object.keys(props);
    const blobs = names.filter((n) => props[n] === "blob");
    const texts = names.filter((n) => props[n] === "text");
    const title = ["title", "name", "file", "filename", "source"].find((n) => props[n] === "text") || texts[0] || null;
    const page = names.find((n) => /^page(_?(no|num|number))?$/i.test(n) && (props[n] === "int" || props[n] === "number")) || null;
    return { props, blobs, title, page };
  }

  async function loadSchema() {
    showError(null);
    try {
      const schema = await getJson("/v1/schema");
      const sel = $("collection");
      const before = sel.value || sessionStorage.getItem("colweave.collection") || "";
      sel.textContent = "";
      state.classes = {};
      for (const c of schema.classes || []) {
        state.classes[c.class] = describeClass(c);
        const o = document.createElement("option");
        o.value = o.textContent = c.class;
        sel.appendChild(o);
      }
      if (before && state.classes[before]) sel.value = before;
      fillFilterProps();
      status((schema.classes || []).length ? "" : "No collections on this server yet.");
      document.body.dataset.schema = "loaded";
    } catch (err) {
      showError(err);
    }
  }

  function fillFilterProps() {
    const c = state.classes[$("collection").value];
    const sel = $("filter-prop");
    sel.textContent = "";
    const none = document.createElement("option");
    none.value = ""; none.textContent = "(none)";
    sel.appendChild(none);
    if (!c) return;
    for (const [name, type] of Object.entries(c.props)) {
      if (type === "blob") continue;
      const o = document.createElement("option");
      o.value = name; o.textContent = name + " (" + type + ")";
      sel.appendChild(o);
    }
  }

  $("collection").addEventListener("change", () => {
    sessionStorage.setItem("colweave.collection", $("collection").value);
    fillFilterProps();
  });
  $("reload").addEventListener("click", loadSchema);

  // -- search ---------------------------------------------------------------------------------------
  function mode() { return document.querySelector("input[name=mode]:checked").value; }
  for (const r of document.querySelectorAll("input[name=mode]")) {
    r.addEventListener("change", () => { $("alpha-wrap").hidden = mode() !== "hybrid"; });
  }
  $("alpha").addEventListener("input", () => { $("alpha-out").value = $("alpha").value; });

  function whereFilter(c) {
    const prop = $("filter-prop").value;
    const raw = $("filter-value").value;
    if (!prop || raw === "") return null;
    const type = c.props[prop];
    const w = { path: [prop], operator: $("filter-op").value };
    if (type === "int") w.valueInt = parseInt(raw, 10);
    else if (type === "number") w.valueNumber = parseFloat(raw);
    else if (type === "boolean") w.valueBoolean = raw === "true";
    else if (type === "date") w.valueDate = raw;
    else w.valueText = raw;
    return w;
  }

  function fmt(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(4); }

  $("search-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(null);
    const collection = $("collection").value;
    const c = state.classes[collection];
    if (!c) { showError(new Error("Pick a collection first.")); return; }
    const body = {
      collection, query: $("query").value, mode: mode(),
      limit: Math.max(1, Math.min(100, parseInt($("limit").value, 10) || 10)),
    };
    if (body.mode === "hybrid") body.alpha = parseFloat($("alpha").value);
    const where = whereFilter(c);
    if (where) body.where = where;
    status("Searching…");
    $("results").removeAttribute("data-query");
    try {
      const res = await postJson("/v1/colweave/search", body);
      state.collection = collection;
      state.query = body.query;
      state.results = res.results;
      renderResults(c);
      status(res.results.length + " result" + (res.results.length === 1 ? "" : "s") + " for “" + body.query + "” (" + body.mode + ")");
    } catch (err) {
      status("");
      showError(err);
    }
  });

  function renderResults(c) {
    for (const u of state.thumbUrls) URL.revokeObjectURL(u);
    state.thumbUrls = [];
    closeViewer();
    const list = $("results");
    list.textContent = "";
    state.results.forEach((r, i) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.id = r.id;
      b.dataset.index = String(i);
      const title = (c.title && r.properties[c.title]) || r.id;
      const page = c.page && r.properties[c.page] !== undefined ? r.properties[c.page] : null;
      const label = (page !== null ? "Page " + page + " of " : "") + title;
      b.setAttribute("aria-label", "Result " + (i + 1) + ": " + label + ", score " + fmt(r.score));
      const img = document.createElement("img");
      img.alt = "Thumbnail of " + label;
      img.loading = "lazy";
      const t = document.createElement("span");
      t.className = "title";
      t.textContent = title;
      const meta = document.createElement("span");
      meta.className = "meta";
      const p = document.createElement("span");
      p.textContent = page !== null ? "page " + page : "";
      const s = document.createElement("span");
      s.className = "score";
      s.textContent = fmt(r.score);
      meta.append(p, s);
      b.append(img, t, meta);
      b.addEventListener("click", () => openResult(i));
      li.appendChild(b);
      list.appendChild(li);
      if (c.blobs.length) {
        imageUrl(state.collection, r.id, "thumb").then((u) => {
          state.thumbUrls.push(u);
          img.src = u;
        }).catch(() => { img.alt = "No image for " + label; });
      }
    });
    list.dataset.query = state.query;
    list.dataset.count = String(state.results.length);
  }

  // -- the page view ------------------------------------------------------------------------------
  function closeViewer() {
    $("viewer").hidden = true;
    $("viewer").removeAttribute("data-drawn");
    const prev = state.current;
    state.current = -1;
    for (const b of document.querySelectorAll("#results button[aria-current]")) b.removeAttribute("aria-current");
    if (prev >= 0) {
      const b = document.querySelector('#results button[data-index="' + prev + '"]');
      if (b) b.focus();
    }
  }
  $("close").addEventListener("click", closeViewer);
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));

  function step(d) {
    if (state.current < 0 || !state.results.length) return;
    const n = state.results.length;
    openResult((state.current + d + n) % n);
  }

  document.addEventListener("keydown", (e) => {
    if ($("viewer").hidden) return;
    const tag = (e.target && e.target.tagName) || "";
    if (["INPUT", "SELECT", "TEXTAREA"].includes(tag) && e.key !== "Escape") return;
    if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
    else if (e.key === "Escape") { e.preventDefault(); closeViewer(); }
  });

  function wordsOf(query, tokens) {
    const words = [];
    const re = /\S+/g;
    let m;
    while ((m = re.exec(query)) !== null) {
      const a = m.index, b = m.index + m[0].length;
      const idx = tokens.filter((t) => t.kind === "text" && t.span && t.span[0] < b && t.span[1] > a).map((t) => t.index);
      if (idx.length) words.push({ label: m[0], tokens: idx });
    }
    return words;
  }

  async function openResult(i) {
    const r = state.results[i];
    const c = state.classes[state.collection];
    if (!r || !c) return;
    const seq = ++state.openSeq;
    state.current = i;
    for (const b of document.querySelectorAll("#results button")) {
      if (b.dataset.index === String(i)) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
    }
    const v = $("viewer");
    v.hidden = false;
    v.dataset.index = String(i);
    v.dataset.id = r.id;
    v.removeAttribute("data-drawn");
    const title = (c.title && r.properties[c.title]) || r.id;
    const page = c.page && r.properties[c.page] !== undefined ? r.properties[c.page] : null;
    const label = (page !== null ? "Page " + page + " of " : "") + title;
    $("viewer-title").textContent = (i + 1) + " / " + state.results.length + " · " + label + " · score " + fmt(r.score);
    const img = $("page-img");
    img.alt = label + ", with the similarity map of the query “" + state.query + "” drawn over it";
    const canvas = $("heatmap");
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    v.focus({ preventScroll: true });
    v.scrollIntoView({ block: "start" });
    showError(null);
    try {
      const [url, ex] = await Promise.all([
        c.blobs.length ? imageUrl(state.collection, r.id, "large") : Promise.resolve(null),
        postJson("/v1/colweave/explain", { collection: state.collection, id: r.id, query: state.query }),
      ]);
      if (seq !== state.openSeq) { if (url) URL.revokeObjectURL(url); return; }
      if (state.pageUrl) URL.revokeObjectURL(state.pageUrl);
      state.pageUrl = url;
      state.explain = ex;
      state.words = wordsOf(state.query, ex.tokens);
      fillWords();
      fillTokens(ex);
      $("explain-score").textContent = "MaxSim " + fmt(ex.score) + " over " + ex.tokens.length + " query tokens" +
        (ex.layout ? " · " + (ex.layout.rows ? ex.layout.rows + " × " + ex.layout.cols + " tiles + global" : "one tile") : " · no page layout (self-provided vectors)");
      if (url) {
        await new Promise((resolve) => {
          img.onload = resolve;
          img.onerror = resolve;
          img.src = url;
        });
      } else {
        img.removeAttribute("src");
      }
      if (seq !== state.openSeq) return;
      draw();
      v.scrollIntoView({ block: "start" });
    } catch (err) {
      if (seq === state.openSeq) showError(err);
    }
  }

  $("full-link").addEventListener("click", async (e) => {
    e.preventDefault();
    const r = state.results[state.current];
    if (!r) return;
    try {
      const u = await imageUrl(state.collection, r.id, "full");
      window.open(u, "_blank", "noopener");
    } catch (err) { showError(err); }
  });

  function fillWords() {
    const sel = $("word");
    sel.textContent = "";
    const all = document.createElement("option");
    all.value = "all"; all.textContent = "the whole query";
    sel.appendChild(all);
    const g = document.createElement("optgroup");
    g.label = "one word";
    state.words.forEach((w, k) => {
      const o = document.createElement("option");
      o.value = "w" + k; o.textContent = "“" + w.label + "”";
      g.appendChild(o);
    });
    sel.appendChild(g);
    const tg = document.createElement("optgroup");
    tg.label = "one token";
    for (const t of state.explain.tokens) {
      const o = document.createElement("option");
      o.value = "t" + t.index;
      o.textContent = "#" + t.index + " " + JSON.stringify(t.text) + (t.kind === "text" ? "" : " [" + t.kind + "]");
      tg.appendChild(o);
    }
    sel.appendChild(tg);
  }

  function fillTokens(ex) {
    const body = $("tokens").querySelector("tbody");
    body.textContent = "";
    for (const t of ex.tokens) {
      const tr = document.createElement("tr");
      if (t.kind !== "text") tr.className = "aug";
      const p = t.bestPatch;
      const where = p
        ? (p.global ? "global tile" : "tile " + (p.tileRow + 1) + "," + (p.tileCol + 1)) + " · patch " + (p.row + 1) + "," + (p.col + 1)
        : "vector " + t.vector;
      const score = p ? fmt(p.score) : fmt(t.score);
      for (const [text, cls] of [[t.text, ""], [t.kind, ""], [score, "num"], [where, ""]]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  function selectedGroup() {
    const v = $("word").value;
    const tokens = selectedTokens();
    if (!tokens) return null;
    return { label: v.startsWith("w") ? state.words[parseInt(v.slice(1), 10)].label : "", tokens };
  }

  function selectedTokens() {
    const v = $("word").value;
    if (v.startsWith("w")) return state.words[parseInt(v.slice(1), 10)].tokens;
    if (v.startsWith("t")) return [parseInt(v.slice(1), 10)];
    return null;
  }

  $("word").addEventListener("change", async () => {
    const r = state.results[state.current];
    if (!r) return;
    const seq = ++state.openSeq;
    const tokens = selectedTokens();
    try {
      const body = { collection: state.collection, id: r.id, query: state.query };
      if (tokens) body.mapTokens = tokens;
      const ex = await postJson("/v1/colweave/explain", body);
      if (seq !== state.openSeq) return;
      state.explain = ex;
      draw();
    } catch (err) { showError(err); }
  });
  $("opacity").addEventListener("input", () => draw());
  $("outline").addEventListener("change", () => draw());
  window.addEventListener("resize", () => draw());

  // Perceptual-ish colour ramp (dark blue → teal → yellow → red) for 0..1.
  const RAMP = [[48, 18, 59], [40, 120, 200], [30, 190, 160], [250, 220, 50], [220, 40, 30]];
  function colour(t) {
    t = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
    const i = Math.min(RAMP.length - 2, Math.floor(t));
    const f = t - i;
    return RAMP[i].map((c, k) => Math.round(c + (RAMP[i + 1][k] - c) * f));
  }

  function draw() {
    const ex = state.explain;
    const img = $("page-img");
    const canvas = $("heatmap");
    const v = $("viewer");
    if (!ex || v.hidden || !img.naturalWidth) return;
    const w = img.clientWidth, h = img.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const lay = ex.layout;
    if (!lay) { v.dataset.drawn = "no-layout"; return; }
    const sx = w / lay.width, sy = h / lay.height;
    const scores = ex.map.scores;          // [tile][row][col]
    // Fine grid tiles when the page was split; the global tile is the whole map only for one-tile pages.
    const tiles = lay.rows ? lay.tiles.filter((t) => !t.global) : lay.tiles;
    let lo = Infinity, hi = -Infinity;
    for (const t of tiles) for (const row of scores[t.index]) for (const s of row) { lo = Math.min(lo, s); hi = Math.max(hi, s); }
    const span = hi - lo || 1;
    const alpha = parseFloat($("opacity").value);
    const side = lay.patchSide;
    for (const t of tiles) {
      const [x0, y0, x1, y1] = t.box;
      const pw = (x1 - x0) / side, ph = (y1 - y0) / side;
      for (let r = 0; r < side; r++) {
        for (let c = 0; c < side; c++) {
          const [cr, cg, cb] = colour((scores[t.index][r][c] - lo) / span);
          ctx.fillStyle = "rgba(" + cr + "," + cg + "," + cb + "," + alpha + ")";
          // Whole-pixel edges shared by neighbours: no gaps, no doubly painted seams.
          const ax = Math.round((x0 + c * pw) * sx), bx = Math.round((x0 + (c + 1) * pw) * sx);
          const ay = Math.round((y0 + r * ph) * sy), by = Math.round((y0 + (r + 1) * ph) * sy);
          ctx.fillRect(ax, ay, bx - ax, by - ay);
        }
      }
    }
    if ($("outline").checked) {
      const chosen = selectedGroup();
      const groups = chosen ? [chosen] : state.words;
      let outlined = 0;
      ctx.lineWidth = 2.5;
      ctx.font = "bold 12px system-ui, sans-serif";
      groups.forEach((g, k) => {
        // The word's best image patch: over its tokens, the patch with the highest score.
        let best = null;
        for (const ti of g.tokens) {
          const t = ex.tokens[ti];
          if (t && t.bestPatch && (!best || t.bestPatch.score > best.bestPatch.score)) best = t;
        }
        if (!best) return;
        outlined++;
        const [x0, y0, x1, y1] = best.bestPatch.box;
        ctx.strokeStyle = "#ffffff";
        ctx.strokeRect(x0 * sx - 1, y0 * sy - 1, (x1 - x0) * sx + 2, (y1 - y0) * sy + 2);
        ctx.strokeStyle = "#e91e63";
        ctx.strokeRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
        const text = g.label || ex.tokens[best.index].text.trim() || "#" + best.index;
        const tw = ctx.measureText(text).width + 6;
        const lx = Math.max(0, Math.min(x0 * sx, w - tw));  // the label stays on the canvas
        ctx.fillStyle = "#e91e63";
        ctx.fillRect(lx, Math.max(0, y0 * sy - 15), tw, 15);
        ctx.fillStyle = "#fff";
        ctx.fillText(text, lx + 3, Math.max(11, y0 * sy - 3));
      });
      v.dataset.outlined = String(outlined);
    }
    v.dataset.drawn = String((parseInt(v.dataset.drawn || "0", 10) || 0) + 1);
  }

  showKeyState();
  loadSchema();
})();
