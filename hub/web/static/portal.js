// Live updates of the customer's return page: server-sent events from /portal/r/<token>/events.
// Everything is written with textContent (never innerHTML), so no text can become markup.
(function () {
  "use strict";
  var root = document.getElementById("portal");
  if (!root || !window.EventSource) { return; }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function renderStages(stages) {
    var list = document.getElementById("stages");
    var known = list.children.length;
    list.textContent = "";
    stages.forEach(function (stage, index) {
      var item = el("li", index >= known ? "new" : "");
      item.setAttribute("data-stage", stage.key);
      item.appendChild(el("strong", "", stage.title));
      item.appendChild(el("span", "when", stage.at));
      item.appendChild(document.createElement("br"));
      item.appendChild(el("span", "", stage.text));
      list.appendChild(item);
    });
  }

  function renderNotices(notices) {
    var card = document.getElementById("notices-card");
    var list = document.getElementById("notices");
    list.textContent = "";
    notices.forEach(function (notice) {
      var item = el("li");
      if (notice.subject) { item.appendChild(el("strong", "", notice.subject)); }
      item.appendChild(el("span", "when", notice.at));
      item.appendChild(el("p", "", notice.body));
      list.appendChild(item);
    });
    card.hidden = notices.length === 0;
  }

  function renderStatus(data) {
    document.getElementById("state-title").textContent = data.state_title;
    document.getElementById("state-text").textContent = data.state_text;
    var refund = document.getElementById("refund");
    refund.textContent = data.refund || "";
    refund.hidden = !data.refund;
    var tracking = document.getElementById("tracking");
    var label = document.getElementById("tracking-label");
    var link = document.getElementById("tracking-link");
    label.textContent = (data.carrier ? data.carrier + " " : "") +
      (data.tracking_word || "tracking") +
      (data.tracking_number ? " " + data.tracking_number : "");
    if (data.tracking_url && /^https?:\/\//i.test(data.tracking_url)) {
      link.href = data.tracking_url;
      link.hidden = false;
    } else {
      link.hidden = true;
    }
    tracking.hidden = !(data.tracking_number || data.tracking_url);
  }

  var url = root.getAttribute("data-events-url") + "?v=" +
    encodeURIComponent(root.getAttribute("data-version"));
  var source = new EventSource(url);
  source.addEventListener("update", function (event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    renderStatus(data);
    renderStages(data.stages || []);
    renderNotices(data.notices || []);
    root.setAttribute("data-version", data.version);
  });
  source.onerror = function () {
    // The browser reconnects by itself; an expired link answers 410 and the stream stops.
    document.getElementById("live-note").textContent = "Reconnecting…";
  };
  source.onopen = function () {
    document.getElementById("live-note").textContent = "This page updates by itself.";
  };
}());
