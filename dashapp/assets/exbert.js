/* exbert's clientside callbacks (served from assets/). */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  exbert: {
    /* A click on a search result: its sentence, for the page to open (search_panel.OPEN). */
    openResult: function (clicked, data) {
      const i = clicked ? parseInt(clicked.rowId, 10) - 1 : -1;
      const sentences = (data && data.sentences) || [];
      return i >= 0 && i < sentences.length ? sentences[i] : window.dash_clientside.no_update;
    },
    /* The search panel's query (the view's input, layer and heads) and its selection
     * (model, sentence, token), the latter only when it changes: the panel's button
     * label asks the server for the token's text, which a layer change leaves alone. */
    shareSelection: function (input, layer, heads, previous) {
      const data = input || {};
      const query = {model: data.model, sentence: data.sentence, token: data.token,
                     layer: layer || 0, heads: heads === undefined ? null : heads};
      const selection = {model: data.model, sentence: data.sentence, token: data.token};
      const same = previous && previous.model === selection.model &&
        previous.sentence === selection.sentence && previous.token === selection.token;
      return [query, same ? window.dash_clientside.no_update : selection];
    },
    /* The thumbnails' veils follow the head selection at once, in the browser: shape h
     * veils head h (figures.head_thumbnails), shown while the head is unselected. */
    veilHeads: function (heads, figure) {
      const shapes = figure && figure.layout && figure.layout.shapes;
      if (!shapes) return window.dash_clientside.no_update;
      const selected = heads === null || heads === undefined ? null : new Set(heads);
      const veiled = shapes.map((shape, h) => Object.assign({}, shape,
        {visible: selected !== null && !selected.has(h)}));
      return Object.assign({}, figure, {layout: Object.assign({}, figure.layout, {shapes: veiled})});
    },
    /* A click on a head's thumbnail toggles it, in the browser: the graph then needs one
     * round trip, not two. It reads clicks as figures.head_at (Python) does,
     * reading the grid's geometry from the thumbnails' layout.meta. */
    toggleHead: function (click, all, none, heads, figure) {
      const ctx = window.dash_clientside.callback_context;
      const trigger = ((ctx.triggered || [])[0] || {}).prop_id || "";
      if (trigger.startsWith("attn-all-heads")) return null;
      if (trigger.startsWith("attn-no-heads")) return [];
      const meta = figure && figure.layout && figure.layout.meta;
      const point = click && click.points && click.points[0];
      if (!meta || !point) return window.dash_clientside.no_update;
      const x = Math.round(point.x), y = Math.round(point.y) - (meta.dy - meta.cells);
      const col = Math.floor(x / meta.dx), row = Math.floor(y / meta.dy);
      if (x % meta.dx >= meta.cells || y < 0 || y % meta.dy >= meta.cells || col >= meta.columns) {
        return window.dash_clientside.no_update;
      }
      const head = row * meta.columns + col;
      if (head < 0 || head >= meta.heads) return window.dash_clientside.no_update;
      const selected = new Set(heads === null || heads === undefined
        ? Array.from({length: meta.heads}, (_, i) => i) : heads);
      if (selected.has(head)) selected.delete(head); else selected.add(head);
      return selected.size === meta.heads ? null : Array.from(selected).sort((a, b) => a - b);
    },

    /* A click on a figure's PNG/SVG button: Plotly draws the image in the browser. */
    exportFigure: function () {
      const trigger = (window.dash_clientside.callback_context.triggered || [])[0];
      if (!trigger || !trigger.value) return window.dash_clientside.no_update;
      const id = JSON.parse(trigger.prop_id.split(".")[0]);
      const graph = document.getElementById(id.graph);
      const plot = graph && (graph.classList.contains("js-plotly-plot")
        ? graph : graph.querySelector(".js-plotly-plot"));
      if (plot) {
        window.Plotly.downloadImage(plot, {format: id.format, filename: "exbert-" + id.name,
          scale: id.format === "png" ? 2 : 1});
      }
      return Date.now();
    },
  },
});
