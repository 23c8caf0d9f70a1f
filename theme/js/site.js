// Enhancements for every page; the site works without them.
// The header's search box leads to the archives without JavaScript; with it,
// it leads to the search page, which searches as you would expect.
for (const form of document.querySelectorAll("form[data-lab-search-action]")) {
  form.action = form.dataset.labSearchAction;
}
