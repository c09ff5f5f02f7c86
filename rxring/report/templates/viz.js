(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ring-data").textContent);
  var body = document.body;
  var nodes = new vis.DataSet(data.nodes);
  var edges = new vis.DataSet(data.edges);
  var container = document.getElementById("network");
  var network = new vis.Network(container, { nodes: nodes, edges: edges }, data.options);
  body.setAttribute("data-node-count", String(nodes.length));
  body.setAttribute("data-edge-count", String(edges.length));

  function settle() {
    // Stabilised layout, then physics off so a large ring stops moving.
    network.setOptions({ physics: false });
    network.fit({ animation: false });
    body.setAttribute("data-stabilized", "1");
    network.redraw();
  }
  if (data.options.physics && data.options.physics.enabled) {
    network.once("stabilizationIterationsDone", settle);
  } else {
    settle();
  }
  network.on("afterDrawing", function (ctx) {
    if (!body.hasAttribute("data-drawn")) {
      body.setAttribute("data-drawn", "1");
    }
    if (body.hasAttribute("data-stabilized") && !body.hasAttribute("data-ink")) {
      // Share of canvas pixels painted (non-transparent): proves the graph is visible.
      var canvas = ctx.canvas, painted = 0;
      var pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (var i = 3; i < pixels.length; i += 4) {
        if (pixels[i] > 0) painted++;
      }
      body.setAttribute("data-ink", (painted / Math.max(1, pixels.length / 4)).toFixed(4));
    }
  });

  // Everything below builds DOM with textContent only: values are never parsed as HTML.
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  var panel = document.getElementById("panel-body");
  function has(key) { return Object.prototype.hasOwnProperty.call(data.details, key); }
  function show(nodeId) {
    if (!has(nodeId)) return;
    var info = data.details[nodeId];
    while (panel.firstChild) panel.removeChild(panel.firstChild);
    panel.appendChild(el("h3", info.label));
    var facts = el("table", null, "facts");
    info.facts.forEach(function (pair) {
      var tr = el("tr");
      tr.appendChild(el("th", pair[0]));
      tr.appendChild(el("td", pair[1]));
      facts.appendChild(tr);
    });
    panel.appendChild(facts);
    panel.appendChild(el("h4", data.labels.node_events));
    var table = el("table", null, "events");
    var head = el("tr");
    data.event_columns.forEach(function (name) { head.appendChild(el("th", name)); });
    table.appendChild(head);
    info.events.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (value) { tr.appendChild(el("td", value)); });
      table.appendChild(tr);
    });
    panel.appendChild(table);
    if (info.more > 0) panel.appendChild(el("p", info.more_text, "note"));
    body.setAttribute("data-selected", String(nodeId));
  }
  network.on("click", function (params) {
    if (params.nodes.length) show(params.nodes[0]);
  });
  // Tests and keyboard users: #node=<id> in the URL opens that node's panel.
  var hash = "";
  try {
    hash = decodeURIComponent((window.location.hash || "").replace(/^#node=/, ""));
  } catch (e) {
    hash = "";
  }
  if (hash && has(hash)) {
    network.selectNodes([hash]);
    show(hash);
  }
})();
