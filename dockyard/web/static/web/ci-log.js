// Follows a running job's log: polls trace.json and replaces the log when it grew, keeping the view at the
// bottom if the reader was there. Without this script the page refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var log = document.getElementById("job-log");
  if (!log || !log.dataset.traceUrl) return;
  var state = document.getElementById("log-state");
  var offset = log.dataset.offset || "-1";
  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  }
  function poll() {
    fetch(log.dataset.traceUrl + "?offset=" + encodeURIComponent(offset), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        var follow = atBottom();
        if (typeof data.html === "string") {
          log.innerHTML = data.html; // rendered and escaped by the server
          var empty = document.getElementById("log-empty");
          if (empty && data.html) empty.remove();
        }
        offset = String(data.offset);
        if (follow) window.scrollTo(0, document.body.scrollHeight);
        if (data.complete) {
          if (state) state.textContent = "Job " + data.status + ".";
          // Reload once so the status, buttons and details show the finished job.
          window.setTimeout(function () { window.location.reload(); }, 800);
          return;
        }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
})();
