/* Comments: small enhancements. Everything works without this script, replies too:
   each "Reply" link opens its comment's own form on the same page (#reply-<id>, shown
   by CSS :target), with or without JavaScript.
   It stamps every comment form's "loaded" and "sent" fields (milliseconds on this
   device's clock) so that the endpoint can drop forms sent within seconds of the
   page loading. Dates stay as written ("14 April 2025 at 2pm"): a rough age such
   as "2 years ago" for 20 months is less exact, and wrong once the page is cached. */
(function () {
  "use strict";

  var loadedAt = String(Date.now());

  function each(selector, root, callback) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), callback);
  }

  each("form[data-lab-comment-form]", document, function (form) {
    var loaded = form.querySelector("[data-lab-loaded]");
    var sent = form.querySelector("[data-lab-sent]");
    if (loaded) { loaded.value = loadedAt; }
    form.addEventListener("submit", function () {
      if (sent) { sent.value = String(Date.now()); }
    });
  });
})();
