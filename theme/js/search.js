// Search with Pagefind's JavaScript API. Enhancement only: without this script
// the form leads to the archives. Results are built with DOM methods and
// textContent, never innerHTML, except Pagefind's excerpt, whose only markup
// is <mark> around the matched words (Pagefind escapes the page text).

const root = document.querySelector("[data-lab-search]");
if (root) {
  start(root);
}

async function start(root) {
  const form = root.querySelector("[data-lab-search-form]");
  const input = form.querySelector("input[type=search]");
  const status = root.querySelector("[data-lab-search-status]");
  const results = root.querySelector("[data-lab-search-results]");
  const filters = root.querySelector("[data-lab-search-filters]");
  const types = root.querySelector("[data-lab-search-types]");
  const challenge = root.querySelector("[data-lab-search-challenge]");
  const siteRoot = new URL(root.dataset.siteRoot, document.baseURI);

  const params = new URLSearchParams(location.search);
  if (!input.value) input.value = params.get("q") || "";

  // Take over the form at once, so that a search typed while Pagefind loads
  // is run when it is ready rather than sent to the archives.
  const archives = form.action;
  form.removeAttribute("action");
  let ready;
  const loading = new Promise((resolve) => { ready = resolve; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await loading) {
      run(true);
    } else {
      location.assign(archives);
    }
  });

  let pagefind;
  try {
    pagefind = await import(new URL(root.dataset.pagefindSrc, document.baseURI).href);
    await pagefind.options({ baseUrl: siteRoot.pathname });
    await pagefind.init();
  } catch (error) {
    status.textContent = "Search is not available right now: the search box leads to the archives.";
    ready(false);
    return;
  }

  const available = await pagefind.filters();
  for (const [value, count] of Object.entries(available.type || {}).sort()) {
    const id = `search-type-${value.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
    const wrapper = document.createElement("div");
    wrapper.className = "lab-search__checkbox";
    const box = Object.assign(document.createElement("input"), {
      type: "checkbox", id, name: "type", value,
    });
    box.className = "lab-search__checkbox-input";
    const label = Object.assign(document.createElement("label"), { htmlFor: id });
    label.className = "lab-search__checkbox-label";
    label.textContent = `${value} (${count})`;
    wrapper.append(box, label);
    types.append(wrapper);
  }
  for (const value of Object.keys(available.challenge || {}).sort()) {
    challenge.append(new Option(value, value));
  }
  filters.hidden = false;

  for (const box of types.querySelectorAll("input")) {
    box.checked = params.getAll("type").includes(box.value);
  }
  challenge.value = params.get("challenge") || "";

  let latest = 0; // the number of the newest search, so older answers are dropped
  form.addEventListener("change", () => run(true));
  ready(true);
  if (input.value) {
    run(false);
  }

  async function run(remember) {
    const query = input.value.trim();
    const chosenTypes = [...types.querySelectorAll("input:checked")].map((b) => b.value);
    const filter = {};
    if (chosenTypes.length) filter.type = { any: chosenTypes };
    if (challenge.value) filter.challenge = challenge.value;
    if (remember) {
      const next = new URLSearchParams();
      if (query) next.set("q", query);
      chosenTypes.forEach((t) => next.append("type", t));
      if (challenge.value) next.set("challenge", challenge.value);
      history.replaceState(null, "", `${location.pathname}?${next}`);
    }
    results.replaceChildren();
    if (!query) {
      status.textContent = "Type a word or two to search.";
      return;
    }
    const ticket = ++latest;
    status.textContent = "Searching…";
    const search = await pagefind.search(query, { filters: filter });
    const found = await Promise.all(search.results.slice(0, 20).map((r) => r.data()));
    if (ticket !== latest) return; // a newer search has started
    const total = search.results.length;
    status.textContent = total === 0
      ? `No results for “${query}”.`
      : `${total} result${total === 1 ? "" : "s"} for “${query}”${total > 20 ? ", showing the first 20" : ""}.`;
    for (const item of found) {
      results.append(renderResult(item));
    }
  }
}

function renderResult(item) {
  const li = document.createElement("li");
  li.className = "lab-search__result";
  const heading = document.createElement("h2");
  heading.className = "lab-search__result-title";
  const link = Object.assign(document.createElement("a"), { href: item.url });
  link.className = "lab-search__result-link";
  link.textContent = item.meta.title || item.url;
  heading.append(link);
  const meta = document.createElement("p");
  meta.className = "lab-search__result-meta";
  meta.textContent = [item.meta.type, item.meta.date].filter(Boolean).join(" · ");
  const excerpt = document.createElement("p");
  excerpt.className = "lab-search__result-excerpt";
  excerpt.append(...excerptNodes(item.excerpt));
  li.append(heading, meta, excerpt);
  return li;
}

// Pagefind's excerpt is escaped text with <mark> around matches: rebuild it
// as text nodes and <mark> elements, so nothing else can become markup. The
// text between the marks is decoded by a <textarea>, whose content the HTML
// parser reads as text (entities decoded, no tags) and keeps whole: a parsed
// document would drop leading spaces, and with them the space between two
// marked words ("peer support" read "peersupport").
function excerptNodes(excerpt) {
  const decoder = document.createElement("textarea");
  const nodes = [];
  let marked = false;
  for (const part of excerpt.split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>") { marked = true; continue; }
    if (part === "</mark>") { marked = false; continue; }
    if (!part) continue;
    decoder.innerHTML = part;
    const text = decoder.value;
    if (marked) {
      const mark = document.createElement("mark");
      mark.textContent = text;
      nodes.push(mark);
    } else {
      nodes.push(document.createTextNode(text));
    }
  }
  return nodes;
}
