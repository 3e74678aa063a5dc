// Dashboard charts: small inline SVG line charts drawn from the JSON the page embeds.
// Nothing is fetched; no library is needed.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4"];
  var dataNode = document.getElementById("chart-data");
  if (!dataNode) { return; }
  var data;
  try { data = JSON.parse(dataNode.textContent); } catch (e) { return; }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function draw(container) {
    var metric = container.getAttribute("data-metric");
    var unit = container.getAttribute("data-unit");
    var days = data.days || [];
    var series = (data.series || []).map(function (s, i) {
      return { name: s.name, color: COLORS[i % COLORS.length], values: s[metric] || [] };
    });
    var width = 480, height = 200, left = 36, right = 8, top = 10, bottom = 24;
    var max = unit === "%" ? 100 : 1;
    series.forEach(function (s) {
      s.values.forEach(function (v) { if (v !== null && v > max) { max = v; } });
    });
    if (unit === "%") {
      var highest = 0;
      series.forEach(function (s) { s.values.forEach(function (v) { if (v > highest) { highest = v; } }); });
      max = Math.max(5, Math.min(100, Math.ceil(highest / 5) * 5 || 5));
    }
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
                             "aria-label": container.parentNode.querySelector("figcaption").textContent });
    var plotW = width - left - right, plotH = height - top - bottom;
    function x(i) { return left + (days.length > 1 ? i * plotW / (days.length - 1) : plotW / 2); }
    function y(v) { return top + plotH - (v / max) * plotH; }
    [0, 0.5, 1].forEach(function (f) {
      var value = max * f;
      chart.appendChild(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), "class": "axis" }));
      chart.appendChild(svg("text", { x: 2, y: y(value) + 3 }, (Math.round(value * 10) / 10) + unit));
    });
    if (days.length) {
      chart.appendChild(svg("text", { x: left, y: height - 6 }, days[0]));
      chart.appendChild(svg("text", { x: width - right, y: height - 6, "text-anchor": "end" }, days[days.length - 1]));
    }
    series.forEach(function (s) {
      var path = "", pen = false;
      s.values.forEach(function (v, i) {
        if (v === null || v === undefined) { pen = false; return; }
        path += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1) + " ";
        pen = true;
        chart.appendChild(svg("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: s.color }))
          .appendChild(svg("title", {}, s.name + " " + days[i] + ": " + v + unit));
      });
      if (path) {
        chart.insertBefore(svg("path", { d: path, fill: "none", stroke: s.color, "stroke-width": 2 }), chart.firstChild.nextSibling);
      }
    });
    container.textContent = "";
    if (!series.length) {
      container.appendChild(document.createTextNode("No finished messages in this window."));
      container.className += " muted small";
      return;
    }
    container.appendChild(chart);
    var legend = document.createElement("div");
    legend.className = "legend";
    series.forEach(function (s) {
      var item = document.createElement("span");
      item.textContent = s.name;
      item.style.setProperty("--swatch", s.color);
      legend.appendChild(item);
    });
    container.appendChild(legend);
  }

  Array.prototype.forEach.call(document.querySelectorAll(".chart[data-metric]"), draw);
}());
