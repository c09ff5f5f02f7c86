/* Ring explorer: the ring's graph (Cytoscape.js, vendored), side panel, expand, time bar, PNG export.
 * Data comes from the JSON endpoints named in <script type="application/json" id="ring-config">;
 * every text is set with textContent or drawn on the canvas, never parsed as HTML. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ring-config").textContent);
  var L = config.labels;
  var panel = document.getElementById("panel");
  var from = document.getElementById("t-from");
  var to = document.getElementById("t-to");
  var tLabel = document.getElementById("t-label");
  var tmin = null, tmax = null, playing = null;
  var ROLE_RING = { laundering_site: 0, source_site: 1, site: 1, patient_group: 2, patient: 2, prescriber: 3,
    prescriber_group: 3 };

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status + " for " + url);
      return r.json();
    });
  }

  function sizeOf(fund, maxFund) {
    return 18 + 42 * Math.sqrt(Math.max(fund, 0) / Math.max(maxFund, 1));
  }

  var RING_BOX = "ring-outline";

  function toElements(graph, maxFund) {
    // the ring's members sit inside one compound node: the ring outlined, expanded neighbours outside it
    var out = [{ group: "nodes", data: { id: RING_BOX, label: config.ring, role: "ring" }, classes: "ring", selectable: false }];
    graph.nodes.forEach(function (n) {
      out.push({ group: "nodes", data: { id: n.id, label: n.label, role: n.role, color: n.color, shape: n.shape,
        href: n.href, inRing: n.inRing, size: sizeOf(n.fund, maxFund), fund: n.fund, count: n.count, parent: RING_BOX },
        classes: n.inRing ? "member" : "outside" });
    });
    graph.edges.forEach(function (e) {
      out.push({ group: "edges", data: { id: e.id, source: e.source, target: e.target, boxes: e.boxes,
        times: e.times || [], width: Math.min(1 + Math.log2(1 + e.boxes), 9), label: e.relationLabel || String(e.boxes) } });
    });
    return out;
  }

  function updateRange() {
    var all = [];
    cy.edges().forEach(function (e) { all = all.concat(e.data("times")); });
    if (!all.length) return;
    tmin = Math.min.apply(null, all);
    tmax = Math.max.apply(null, all);
    applyWindow();
  }

  function windowTimes() {
    var span = Math.max(tmax - tmin, 1);
    var a = tmin + span * Math.min(from.value, to.value) / 1000;
    var b = tmin + span * Math.max(from.value, to.value) / 1000;
    return [a, b];
  }

  function fmt(t) { return new Date(t * 1000).toISOString().slice(0, 10); }

  function applyWindow() {
    if (tmin === null) return;
    var w = windowTimes();
    cy.batch(function () {
      cy.edges().forEach(function (e) {
        var times = e.data("times");
        var inside = !times.length || times.some(function (t) { return t >= w[0] - 1 && t <= w[1] + 1; });
        e.toggleClass("hidden", !inside);
      });
    });
    tLabel.textContent = fmt(w[0]) + " – " + fmt(w[1]);
    document.getElementById("cy").setAttribute("data-visible-edges", String(cy.edges(":visible").length));
  }

  function showPanel(node) {
    var id = node.id();
    panel.textContent = "";
    panel.appendChild(el("h3", node.data("label")));
    var actions = el("p");
    if (node.data("href")) actions.appendChild(el("a", L.open_page, { href: node.data("href"), "class": "button" }));
    var button = el("button", L.expand, { type: "button", id: "expand-node" });
    button.addEventListener("click", function () { expand(node); });
    actions.appendChild(document.createTextNode(" "));
    actions.appendChild(button);
    panel.appendChild(actions);
    getJSON(config.node + "?node=" + encodeURIComponent(id)).then(function (d) {
      panel.appendChild(el("p", d.kind || "", { "class": "note" }));
      panel.appendChild(el("h4", L.findings + " (" + (d.findingsTotal || 0) + ")"));
      var ul = el("ul");
      d.findings.forEach(function (f) {
        var li = el("li");
        li.appendChild(el("span", f.rule + " "));
        li.appendChild(el("a", f.code, { href: "/box/" + encodeURIComponent(f.code) }));
        li.appendChild(el("span", " " + (f.time || "").slice(0, 10)));
        ul.appendChild(li);
      });
      panel.appendChild(ul);
      panel.appendChild(el("h4", L.rings_of));
      var rings = el("p");
      d.rings.forEach(function (r) { rings.appendChild(el("a", r.id, { href: r.href })); rings.appendChild(document.createTextNode(" ")); });
      panel.appendChild(rings);
      panel.appendChild(el("h4", L.latest_events));
      var ev = el("ul");
      d.events.forEach(function (e) { ev.appendChild(el("li", (e.time || "").slice(0, 16) + " " + e.type + " " + e.site)); });
      panel.appendChild(ev);
    }).catch(function (err) { panel.appendChild(el("p", String(err), { "class": "error" })); });
  }

  // a new neighbour goes on a circle around the expanded node, pushed outside the ring's outline
  function outsidePosition(pos, outer, angle) {
    var x = pos.x + 170 * Math.cos(angle), y = pos.y + 170 * Math.sin(angle);
    if (x > outer.x1 && x < outer.x2 && y > outer.y1 && y < outer.y2) {
      var cx = (outer.x1 + outer.x2) / 2, cy0 = (outer.y1 + outer.y2) / 2;
      var dx = x - cx, dy = y - cy0, len = Math.sqrt(dx * dx + dy * dy) || 1;
      var reach = Math.max(outer.w, outer.h) / 2 + 60 + 30 * (Math.round(angle * 7) % 3);
      x = cx + dx / len * reach; y = cy0 + dy / len * reach;
    }
    return { x: x, y: y };
  }

  // a group node (people merged above the node budget, or a relation with many neighbours) gives its
  // members a page at a time; it shows what is left of it, and goes when none is left
  function expand(node) {
    var page = node.data("page") || 0;
    getJSON(config.expand + "?node=" + encodeURIComponent(node.id()) + "&page=" + page).then(function (d) {
      var pos = node.position();
      var added = d.nodes.filter(function (n) { return cy.getElementById(n.id).empty(); });
      var maxFund = Math.max.apply(null, cy.nodes().map(function (n) { return n.data("fund") || 0; }).concat([1]));
      var outer = cy.getElementById(RING_BOX).boundingBox();
      cy.batch(function () {
        added.forEach(function (n, i) {
          var angle = 2 * Math.PI * i / Math.max(added.length, 1);
          var inside = d.group && n.inRing;     // members of one of the ring's groups stay inside its outline
          cy.add({ group: "nodes", data: { id: n.id, label: n.label, role: n.role, color: n.color, shape: n.shape,
            href: n.href, inRing: n.inRing, size: sizeOf(n.fund, maxFund) * 0.8, fund: n.fund, count: n.count,
            parent: inside ? RING_BOX : undefined },
            classes: n.inRing ? "member" : "outside",
            position: inside ? { x: pos.x + 90 * Math.cos(angle), y: pos.y + 90 * Math.sin(angle) }
                             : outsidePosition(pos, outer, angle) });
        });
        d.edges.forEach(function (e) {
          if (cy.getElementById(e.id).empty() && cy.getElementById(e.source).nonempty() && cy.getElementById(e.target).nonempty()) {
            cy.add({ group: "edges", data: { id: e.id, source: e.source, target: e.target, boxes: e.boxes, times: e.times || [],
              width: Math.min(1 + Math.log2(1 + e.boxes), 9), label: e.relationLabel || String(e.boxes) }, classes: "expanded" });
          }
        });
      });
      node.addClass("was-expanded");
      // what was added must be seen: zoom out to the whole graph when some of it fell outside the view
      var view = cy.extent();
      var unseen = added.some(function (n) {
        var b = cy.getElementById(n.id).boundingBox();
        return b.x1 < view.x1 || b.x2 > view.x2 || b.y1 < view.y1 || b.y2 > view.y2;
      });
      if (unseen) cy.fit(undefined, 20);
      if (d.group) {
        if (d.group.remaining > 0) {
          node.data("label", d.group.label);
          node.data("page", d.group.next);
          var title = panel.querySelector("h3");
          if (title) title.textContent = d.group.label;
        }
        else { node.remove(); panel.textContent = ""; }
      }
      document.getElementById("cy").setAttribute("data-nodes", String(cy.nodes().length));
      updateRange();
    }).catch(function (err) { panel.appendChild(el("p", String(err), { "class": "error" })); });
  }

  var cy = cytoscape({
    container: document.getElementById("cy"),
    style: [
      { selector: "node[size]", style: { "background-color": "data(color)", "shape": "data(shape)", "width": "data(size)",
        "height": "data(size)", "label": "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 3,
        "text-wrap": "ellipsis", "text-max-width": 140, "border-width": 1, "border-color": "#fff" } },
      { selector: "node.ring", style: { "background-color": "#f3f6fa", "background-opacity": 0.6, "border-width": 2,
        "border-style": "dashed", "border-color": "#8a97a6", "label": "data(label)", "text-valign": "top",
        "text-halign": "center", "font-size": 14, "font-weight": "bold", "color": "#1f3b57", "shape": "round-rectangle",
        "padding": 18 } },
      { selector: "node.outside", style: { "border-width": 2, "border-style": "dashed", "border-color": "#555", "opacity": 0.85 } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#000" } },
      { selector: "edge", style: { "width": "data(width)", "line-color": "#9aa5b1", "curve-style": "bezier",
        "target-arrow-shape": "triangle", "target-arrow-color": "#9aa5b1", "label": "data(label)", "font-size": 9,
        "color": "#555", "text-rotation": "autorotate" } },
      { selector: "edge.expanded", style: { "line-style": "dashed", "line-color": "#c3c9d0" } },
      { selector: ".hidden", style: { "display": "none" } }
    ]
  });
  window.rxringCy = cy;

  getJSON(config.graph).then(function (graph) {
    var maxFund = Math.max.apply(null, graph.nodes.map(function (n) { return n.fund; }).concat([1]));
    cy.add(toElements(graph, maxFund));
    cy.nodes().not(".ring").layout({ name: "concentric", animate: false, minNodeSpacing: 12,
      concentric: function (n) { return 4 - (ROLE_RING[n.data("role")] || 0); }, levelWidth: function () { return 1; } }).run();
    // then a force layout from those positions: no random start, so the same ring is drawn the same way every visit
    if (cy.nodes().length > 2) {
      cy.layout({ name: "cose", randomize: false, animate: false, nodeRepulsion: function () { return 9000; },
        idealEdgeLength: function () { return 80; }, numIter: 800, padding: 20 }).run();
    }
    cy.on("tap", "node", function (evt) { if (!evt.target.hasClass("ring")) showPanel(evt.target); });
    updateRange();
    document.getElementById("cy").setAttribute("data-nodes", String(cy.nodes().length));
    document.body.setAttribute("data-graph-ready", "1");
  }).catch(function (err) { panel.appendChild(el("p", String(err), { "class": "error" })); });

  from.addEventListener("input", applyWindow);
  to.addEventListener("input", applyWindow);
  document.getElementById("fit").addEventListener("click", function () { cy.fit(undefined, 20); });
  document.getElementById("play").addEventListener("click", function () {
    if (playing) { clearInterval(playing); playing = null; return; }
    var width = 250, start = 0;
    playing = setInterval(function () {
      from.value = start; to.value = Math.min(start + width, 1000); applyWindow();
      start += 25;
      if (start + width > 1025) { clearInterval(playing); playing = null; from.value = 0; to.value = 1000; applyWindow(); }
    }, 300);
  });
  document.getElementById("export-png").addEventListener("click", function () {
    var a = el("a", "", { href: cy.png({ full: true, bg: "#ffffff", scale: 2 }), download: config.ring + ".png" });
    document.body.appendChild(a); a.click(); a.remove();
  });
})();
