/* Comments: small enhancements. Everything works without this script.
   1. Stamps the form's "loaded" and "sent" fields (milliseconds on this device's clock)
      so that the endpoint can drop forms sent within seconds of the page loading.
   2. Adds "5 years ago" beside each comment's date (the date itself stays).
   3. Keeps replies on the post's page: "Reply" fills the form's reply_to field instead
      of opening the reply page, and "Cancel reply" empties it again. */
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

  /* 3. Replies on the same page */
  var form = document.querySelector("form[data-lab-comment-form]");
  var field = form && form.querySelector("[data-lab-reply-field]");
  var banner = form && form.querySelector("[data-lab-replying]");
  if (!form || !field || !banner) { return; }
  var nameSlot = banner.querySelector("[data-lab-replying-name]");
  var cancel = banner.querySelector("[data-lab-cancel-reply]");
  var body = form.querySelector("textarea");

  each("a[data-lab-reply]", document, function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      field.value = link.getAttribute("data-lab-reply");
      nameSlot.textContent = link.getAttribute("data-lab-reply-name");
      banner.hidden = false;
      form.scrollIntoView();
      if (body) { body.focus(); }
    });
  });
  if (cancel) {
    cancel.addEventListener("click", function () {
      field.value = "";
      banner.hidden = true;
      if (body) { body.focus(); }
    });
  }
})();
