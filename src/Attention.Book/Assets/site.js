// The answer book's site: search over the build-time index, and frames that size to the interactive views in them.
// No network: the index is a script beside the pages (search-index.js), loaded on first use.
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";
  var input = document.getElementById("search"), list = document.getElementById("search-results");
  var index = null, loading = false, pending = null;

  function load(then) {
    if (index) { then(); return; }
    pending = then;
    if (loading) return;
    loading = true;
    var s = document.createElement("script");
    s.src = root + "search-index.js";
    s.onload = function () { index = window.attnSearchIndex || []; if (pending) pending(); };
    s.onerror = function () { index = []; show([], "The search index (search-index.js) did not load."); };
    document.head.appendChild(s);
  }

  function terms(q) { return q.toLowerCase().split(/\s+/).filter(function (t) { return t.length > 0; }); }

  function count(hay, t) {
    var n = 0, at = hay.indexOf(t);
    while (at >= 0 && n < 50) { n++; at = hay.indexOf(t, at + t.length); }
    return n;
  }

  // every term must occur; the title weighs most, then headings, then the text
  function search(q) {
    var ts = terms(q), hits = [];
    if (ts.length === 0) return hits;
    index.forEach(function (e) {
      if (!e.lt) { e.lt = e.t.toLowerCase(); e.lh = e.h.join(" \n ").toLowerCase(); e.lx = e.x.toLowerCase(); }
      var score = 0;
      for (var i = 0; i < ts.length; i++) {
        var t = ts[i], inTitle = count(e.lt, t), inHead = count(e.lh, t), inText = count(e.lx, t);
        if (inTitle + inHead + inText === 0) return;
        score += 20 * inTitle + 5 * inHead + Math.min(inText, 20);
      }
      hits.push({ e: e, score: score });
    });
    hits.sort(function (a, b) { return b.score - a.score || (a.e.u < b.e.u ? -1 : 1); });
    return hits.slice(0, 12);
  }

  function snippet(e, q) {
    var ts = terms(q), at = -1;
    for (var i = 0; i < ts.length && at < 0; i++) at = e.lx.indexOf(ts[i]);
    if (at < 0) return e.x.slice(0, 140);
    var from = Math.max(0, at - 60);
    return (from > 0 ? "…" : "") + e.x.slice(from, at + 100) + "…";
  }

  function show(hits, message) {
    while (list.firstChild) list.removeChild(list.firstChild);
    if (message) {
      var li = document.createElement("li");
      li.className = "none";
      li.textContent = message;
      list.appendChild(li);
    }
    hits.forEach(function (h) {
      var li = document.createElement("li"), a = document.createElement("a"), p = document.createElement("span");
      a.href = root + h.e.u;
      a.textContent = h.e.t;
      p.className = "snippet";
      p.textContent = snippet(h.e, input.value);
      li.appendChild(a);
      li.appendChild(p);
      list.appendChild(li);
    });
    list.hidden = false;
  }

  function run() {
    var q = input.value.trim();
    if (q.length === 0) { list.hidden = true; return; }
    load(function () {
      var hits = search(q);
      show(hits, hits.length === 0 ? "No page mentions “" + q + "”." : null);
    });
  }

  if (input && list) {
    input.addEventListener("input", run);
    input.addEventListener("focus", function () { load(function () { }); if (input.value.trim()) run(); });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { input.value = ""; list.hidden = true; }
      if (ev.key === "Enter") { var a = list.querySelector("a"); if (a) window.location.href = a.href; }
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "/" && document.activeElement !== input && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
        ev.preventDefault();
        input.focus();
      }
    });
    document.addEventListener("click", function (ev) { if (!ev.target.closest || !ev.target.closest(".search")) list.hidden = true; });
    // a page opened as page.html?q=words shows the search for those words (a link can carry a search)
    var asked = new URLSearchParams(window.location.search).get("q");
    if (asked) { input.value = asked; run(); }
  }

  // KaTeX pins an equation number to the right edge; where the equation reaches under it, move the number below
  function placeTags() {
    document.querySelectorAll(".katex-display").forEach(function (d) {
      var tag = d.querySelector(".katex-html > .katex-tag");
      if (!tag) return;
      d.classList.remove("tag-below");
      var right = 0;
      d.querySelectorAll(".katex-html > .katex-base").forEach(function (b) { right = Math.max(right, b.getBoundingClientRect().right); });
      if (right + 6 > tag.getBoundingClientRect().left) d.classList.add("tag-below");
    });
  }
  document.addEventListener("DOMContentLoaded", placeTags);                 // after the math is typeset (that listener came first)
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(placeTags);
  window.addEventListener("resize", placeTags);

  // printing shows the folded derivations too
  window.addEventListener("beforeprint", function () { document.querySelectorAll("details").forEach(function (d) { d.open = true; }); });

  // an interactive view in a frame says how tall it is (postMessage works from file:// where reading the frame does not)
  window.addEventListener("message", function (ev) {
    var d = ev.data;
    if (!d || typeof d.attnFrameHeight !== "number") return;
    document.querySelectorAll("figure.embed iframe").forEach(function (f) {
      if (f.contentWindow === ev.source) f.style.height = Math.min(4000, Math.max(200, d.attnFrameHeight)) + "px";
    });
  });
})();
