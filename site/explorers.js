// Render the book's kernel-free explorers: every <div class="vega-explorer"> holds a Vega-Lite spec (a JSON script)
// and a PNG of its default view. With Vega, Vega-Lite and vega-embed loaded (served by the site itself, see
// site/vega_explorers.py), the spec replaces the PNG with a live chart whose controls re-filter the precomputed data in
// the browser. The views are kept in window.gradbookExplorers by id, for the browser tests.
(function () {
  "use strict";
  window.gradbookExplorers = window.gradbookExplorers || {};

  function render(container) {
    var source = container.querySelector("script.vega-spec");
    var target = container.querySelector(".vega-target");
    if (!source || !target || typeof window.vegaEmbed !== "function") {
      return Promise.resolve(null); // the PNG stays
    }
    var spec = JSON.parse(source.textContent);
    return window.vegaEmbed(target, spec, { actions: false, renderer: "svg" }).then(function (result) {
      var fallback = container.querySelector(".vega-fallback");
      if (fallback) {
        fallback.hidden = true;
      }
      container.classList.add("vega-explorer-live");
      window.gradbookExplorers[container.id] = result.view;
      return result.view;
    });
  }

  function renderAll() {
    var containers = document.querySelectorAll("div.vega-explorer");
    var pending = Array.prototype.map.call(containers, function (container) {
      return render(container).catch(function (error) {
        console.error("explorer " + container.id + " could not be drawn: " + error);
      });
    });
    window.gradbookExplorersReady = Promise.all(pending);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
