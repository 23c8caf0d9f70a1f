/* Comments: small enhancements. Everything works without this script, replies too:
   each "Reply" link leads to the page's one comment form, whose "Replying to" list
   the reader sets to the comment they answer.
   1. Stamps every comment form's "loaded" and "sent" fields (milliseconds on this
      device's clock) so that the endpoint can drop forms sent within seconds of the
      page loading.
   2. "Reply" chooses its comment in the form's list, names it in the form's heading
      and takes the reader to the list, which says whom they answer. */
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

  /* 2. Reply links */
  var choice = document.querySelector("select[data-lab-reply-to]");
  var heading = document.querySelector("[data-lab-form-heading]");
  if (!choice || !heading) { return; }
  var plain = heading.textContent;

  function name() {
    var option = choice.options[choice.selectedIndex];
    heading.textContent = option && option.value ? "Your reply to " + option.text : plain;
  }

  choice.addEventListener("change", name);
  each("a[data-lab-reply]", document, function (link) {
    link.addEventListener("click", function (event) {
      choice.value = link.getAttribute("data-lab-reply");
      if (choice.value !== link.getAttribute("data-lab-reply")) { return; }
      event.preventDefault();
      name();
      choice.focus();
      choice.scrollIntoView({ block: "center" });
    });
  });
})();
