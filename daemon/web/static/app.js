// xcloud dashboard: progressive enhancement only. The pages work without
// this file; with it, the deploy and app logs follow live over server-sent
// events, the traffic figures refresh, and destructive buttons ask first.
"use strict";

(function () {
  // Keep a log panel bounded, like the server does.
  var maxLines = 2000;

  function append(pre, line) {
    var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(line + "\n"));
    while (pre.childNodes.length > maxLines) pre.removeChild(pre.firstChild);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  document.addEventListener("submit", function (ev) {
    var b = ev.submitter;
    var q = b && b.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { ev.preventDefault(); return; }
    if (b) { b.disabled = true; b.setAttribute("aria-busy", "true"); }
  });

  function followDeploy(card) {
    var pre = document.getElementById("deploy-log");
    var state = document.getElementById("deploy-state");
    state.textContent = "Waiting for the next deploy…";
    var es = new EventSource(card.getAttribute("data-src"));
    var started = false;
    es.onopen = function () {
      if (!started) card.setAttribute("data-state", "waiting");
    };
    es.addEventListener("line", function (e) {
      if (!started) {
        started = true;
        pre.textContent = "";
        pre.hidden = false;
        state.textContent = "Deploying…";
        card.setAttribute("data-state", "running");
      }
      append(pre, e.data);
    });
    es.addEventListener("end", function (e) {
      es.close();
      var end = JSON.parse(e.data);
      state.textContent = end.failed ? "Deploy failed: " + end.error : "Deploy finished. Reload the page to see the new release.";
      card.setAttribute("data-state", end.failed ? "failed" : "done");
      // Wait for the one after it.
      setTimeout(function () { followDeploy(card); }, 3000);
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) state.textContent = "Live log unavailable; reload the page.";
    };
  }

  function followLogs(card) {
    var pre = document.getElementById("logs-log");
    var state = document.getElementById("logs-state");
    var es = new EventSource(card.getAttribute("data-src"));
    es.onopen = function () {
      // The stream starts with the recent lines again.
      pre.textContent = "";
      state.textContent = "Live: new lines appear as the app writes them.";
    };
    es.addEventListener("line", function (e) { append(pre, e.data); });
    es.onerror = function () { state.textContent = "Reconnecting…"; };
  }

  function refreshTraffic(card) {
    var src = card.getAttribute("data-src");
    function tick() {
      fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (t) {
          if (!t || !t.enabled) return;
          card.querySelectorAll("[data-k]").forEach(function (el) {
            var v = t[el.getAttribute("data-k")];
            el.textContent = (v === "" || v === undefined) ? "–" : String(v);
          });
        })
        .catch(function () {});
    }
    tick();
    setInterval(tick, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.EventSource) return;
    var d = document.getElementById("deploy");
    if (d) followDeploy(d);
    var l = document.getElementById("logs");
    if (l) followLogs(l);
    var t = document.getElementById("traffic");
    if (t && t.querySelector("[data-k]")) refreshTraffic(t);
  });
})();
