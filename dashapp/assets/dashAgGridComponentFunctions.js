/* exbert's cell renderers for dash-ag-grid (loaded from assets/, no CDN).
 *
 * SentenceCell draws a search result's sentence from its compact row
 * (dashapp/components/search_results.py): one span per word with its annotation
 * as a hover label, the match in blue and the token it attends to most underlined.
 */
var dagcomponentfuncs = (window.dashAgGridComponentFunctions =
  window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.SentenceCell = function (props) {
  const row = props.data || {};
  const text = row.sentence || "";
  const words = row.words || [];
  const labels = (props.context && props.context.labels) || [];
  const overlaps = (span, start, end) => span && start < span[1] && span[0] < end;
  const parts = [];
  let cursor = 0;
  words.forEach(function (w, i) {
    const [start, end, label, head, lemma] = w;
    const [pos, tag, dep, ent] = labels[label] || ["", "", "", ""];
    if (start < cursor) return;
    if (start > cursor) parts.push(text.slice(cursor, start));
    const word = text.slice(start, end);
    const headWord = words[head] ? text.slice(words[head][0], words[head][1]) : word;
    let title = word + ": lemma " + (lemma || word.toLowerCase()) + ", " + pos + " (" + tag + "), " +
      dep + " \u2192 " + headWord;
    if (ent) title += ", entity " + ent;
    let className = "search-word";
    if (overlaps(row.match_span, start, end)) className += " match";
    else if (overlaps(row.attended_span, start, end)) className += " attended";
    parts.push(React.createElement("span", {key: i, title: title, className: className}, word));
    cursor = end;
  });
  parts.push(text.slice(cursor));
  return React.createElement("span", {className: "search-sentence"}, parts);
};
