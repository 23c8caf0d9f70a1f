/* Comments: small enhancements. Everything works without this script, replies too:
   each "Reply" link opens its comment's own form on the same page (#reply-<id>, shown
   by CSS :target), with or without JavaScript.
   1. Stamps every comment form's "loaded" and "sent" fields (milliseconds on this
      device's clock) so that the endpoint can drop forms sent within seconds of the
      page loading.
   2. Adds "5 years ago" beside each comment's date (the date itself stays). */
(function () {
  "use strict";

  var loadedAt = String(Date.now());

  function each(selector, root, callback) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), callback);
  }

  /* 1. Timing fields */
  each("form[data-lab-comment-form]", document, function (form) {
    var loaded = form.querySelector("[data-lab-loaded]");
    var sent = form.querySelector("[data-lab-sent]");
    if (loaded) { loaded.value = loadedAt; }
    form.addEventListener("submit", function () {
      if (sent) { sent.value = String(Date.now()); }
    });
  });

  /* 2. "5 years ago" */
  if (window.Intl && Intl.RelativeTimeFormat) {
    var format = new Intl.RelativeTimeFormat(document.documentElement.lang || "en-GB", { numeric: "auto" });
    var units = [
      ["year", 365 * 24 * 3600], ["month", 30 * 24 * 3600], ["week", 7 * 24 * 3600],
      ["day", 24 * 3600], ["hour", 3600], ["minute", 60]
    ];
    each("time[data-lab-relative]", document, function (time) {
      var then = Date.parse(time.getAttribute("datetime"));
      if (isNaN(then)) { return; }
      var seconds = (then - Date.now()) / 1000;
      var text = null;
      for (var i = 0; i < units.length; i += 1) {
        if (Math.abs(seconds) >= units[i][1] || units[i][0] === "minute") {
          text = format.format(Math.round(seconds / units[i][1]), units[i][0]);
          break;
        }
      }
      var ago = document.createElement("span");
      ago.className = "lab-comment__ago";
      ago.textContent = " (" + text + ")";
      time.parentNode.insertBefore(ago, time.nextSibling);
    });
  }
})();
