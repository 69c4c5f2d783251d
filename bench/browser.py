"""What a person waits for, measured in a real headless Chromium on the demo corpus.

    .venv/bin/python -m bench.browser --home /tmp/exdemo [--runs 20]

Starts `exbert serve` on the demo corpus in EXBERT_HOME `--home` (as bench/load.py),
opens the Attention page in Debian's headless Chromium (the browser tests' set-up)
and times, over repeated runs, from the person's action (the keydown or click
event's timestamp, taken in the page) to the frame after the page shows its
answer:

- first load of `/` until the landing graph is drawn (from navigation start);
- a sentence typed + Enter until its graph is drawn;
- a layer change (arrow key on the slider) until the graph is redrawn;
- a head toggle (click on a thumbnail) until it shows (the pointer then rests on the
  thumbnail, which previews that head in the graph: what changes is its veil);
- the "none" and "all" heads buttons until the graph is redrawn;
- a token click, then Search, until the results and the summary are visible;
- a click on a result until its sentence is loaded in the graph.

Beside each: the server's share (the Server-Timing of the requests the action made,
summed) and the bytes of JSON the browser received.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

# In the page before anything else: the time of the last keydown/click (capture
# phase, so the page's own handlers cannot hide it) and a rAF-stamped "done".
PROBE = """
window.__exbert = {t0: null};
document.addEventListener('keydown', e => { window.__exbert.t0 = e.timeStamp; }, true);
document.addEventListener('mousedown', e => { window.__exbert.t0 = e.timeStamp; window.__exbert.down = e.timeStamp; }, true);
document.addEventListener('click', e => {  // a click sent from a script has no mousedown
  if (!e.isTrusted || !(window.__exbert.down > e.timeStamp - 1000)) window.__exbert.t0 = e.timeStamp;
}, true);
// count each graph's draws: Plotly emits plotly_afterplot on the graph after drawing
window.__plots = function (id) {
  const gd = document.querySelector('#' + id + ' .js-plotly-plot') || document.getElementById(id);
  return (gd && gd.__exbertPlots) || 0;
};
new MutationObserver(() => {
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    if (!gd.__exbertHooked && gd.on) {
      gd.__exbertHooked = true;
      gd.on('plotly_afterplot', () => {
        gd.__exbertPlots = (gd.__exbertPlots || 0) + 1;
        const count = gd.__exbertPlots;
        // the frame after this draw is when it shows
        requestAnimationFrame(() => { gd.__exbertShown = [count, performance.now()]; });
      });
    }
  });
}).observe(document, {subtree: true, childList: true});
// when a graph's draw number `count` (or a later one) showed, else null
window.__shownAt = function (id, count) {
  const gd = document.querySelector('#' + id + ' .js-plotly-plot') || document.getElementById(id);
  const shown = gd && gd.__exbertShown;
  return shown && shown[0] >= count ? shown[1] : null;
};
window.__exbertWait = function (predicate, callback, graph) {
  const started = window.__exbert.t0;
  function check() {
    let ok = false;
    try { ok = predicate(); } catch (err) { ok = false; }
    if (ok) {
      requestAnimationFrame(() => {
        // a graph's draw: when the frame after it showed; anything else: this frame
        const at = graph ? window.__shownAt(graph, window.__before + 1) : null;
        const now = at || performance.now();
        const since = started === null ? 0 : started;
        const entries = performance.getEntriesByType('resource').filter(
          r => r.startTime >= since - 1 && r.name.includes('/_dash-update-component'));
        const server = entries.reduce((sum, r) => sum + ((r.serverTiming[0] || {}).duration || 0), 0);
        const bytes = entries.reduce((sum, r) => sum + (r.encodedBodySize || 0), 0);
        callback({ms: now - since, server: server, bytes: bytes, requests: entries.length});
      });
      return true;
    }
    return false;
  }
  if (check()) return;
  const observer = new MutationObserver(() => { if (check()) observer.disconnect(); });
  observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  setTimeout(() => { observer.disconnect(); callback({ms: null}); }, 30000);
};
"""

# predicates, evaluated in the page after each change of the DOM
LABELS = "Array.from(document.querySelectorAll('#attn-graph .textpoint')).map(e => e.textContent)"
LINES = "window.__plots('attn-graph')"
VEILS = "window.__plots('attn-thumbs')"
# the results list (one row a result) and the summary's plot(s), whichever layout the page has
RESULTS = (
    "(document.querySelectorAll('#search-results .ag-row, #search-list .search-result').length >= 10"
    " && document.querySelector(\"#search-results .ag-row[row-index='0'] .search-word, "
    '#search-list .search-result") !== null'
    " && document.querySelectorAll('#search-summary .main-svg').length > 0)"
)
FIRST_RESULT = (
    "#search-results .ag-row[row-index='0'] [col-id='sentence'], #search-list .search-result"
)


def wait_js(driver, predicate: str, graph: str | None = None) -> dict:
    """Block until `predicate` (a JS expression) holds; the timing the page took (for a
    `graph` whose draws the predicate counts: until the frame after that draw)."""
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"window.__exbertWait(() => ({predicate}), done, {json.dumps(graph)});"
    )
    if result.get("ms") is None:
        driver.save_screenshot("/tmp/exbert-bench-browser.png")
        raise TimeoutError(f"the page never showed: {predicate} (/tmp/exbert-bench-browser.png)")
    return result


def remember_lines(driver) -> None:
    driver.execute_script(f"window.__before = {LINES};")


CHANGED = f"{LINES} > window.__before"


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.95 * (len(values) - 1) + 0.5))]


def summarize(samples: list[dict]) -> str:
    ms = [s["ms"] for s in samples]
    server = statistics.median(s["server"] for s in samples)
    kb = statistics.median(s["bytes"] for s in samples) / 1000
    reqs = statistics.median(s["requests"] for s in samples)
    return f"{statistics.median(ms):.0f} / {p95(ms):.0f} | {server:.0f} | {kb:.0f} | {reqs:.0f}"


def retried(action, attempts: int = 5) -> None:
    """Plotly redraws its SVG often: an element found a moment ago may be gone."""
    from selenium.common.exceptions import StaleElementReferenceException

    for attempt in range(attempts):
        try:
            return action()
        except (StaleElementReferenceException, StopIteration):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


def click_token(driver, text: str) -> None:
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By

    def click() -> None:
        token = next(
            e
            for e in driver.find_elements(By.CSS_SELECTOR, "#attn-graph .textpoint")
            if e.text == text
        )
        ActionChains(driver).move_to_element(token).pause(0.2).click().perform()

    retried(click)


def click_head(driver, head: int) -> None:
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By

    def click() -> None:
        label = next(
            e
            for e in driver.find_elements(By.CSS_SELECTOR, "#attn-thumbs .annotation-text")
            if e.text.split()[-1] == str(head)
        )
        ActionChains(driver).move_to_element(label).move_by_offset(0, 25).click().perform()

    retried(click)


def one_run(driver, base: str, run: int, record, landing: str = "/") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + landing)
    record("first load of / until a graph is drawn", wait_js(driver, f"{LABELS}.length > 0"))

    box = driver.find_element(By.ID, "attn-sentence")
    box.clear()
    word = f"zebra{run}"
    box.send_keys(f"The {word} crossed the old bridge near the station at dawn.")
    box.send_keys(Keys.ENTER)
    record(
        "sentence typed + Enter until its graph is drawn",
        wait_js(driver, f"{LABELS}.some(t => t.startsWith('ze'))"),
    )

    for _ in range(2):
        remember_lines(driver)
        retried(
            lambda: driver.find_element(
                By.CSS_SELECTOR, "#attn-layer .dash-slider-thumb, #attn-layer [role=slider]"
            ).send_keys(Keys.ARROW_RIGHT)
        )
        record("layer change until the graph is redrawn", wait_js(driver, CHANGED, "attn-graph"))

    for head in (1, 1):  # off, then on again
        # the pointer previews the head it rests on, so what a toggle changes on screen
        # is the thumbnails' veils (and the graph once the pointer leaves)
        driver.execute_script(f"window.__before = {VEILS};")
        click_head(driver, head)
        record(
            "head toggle until redrawn",
            wait_js(driver, f"{VEILS} > window.__before", "attn-thumbs"),
        )

    for button in ("attn-no-heads", "attn-all-heads"):
        remember_lines(driver)
        driver.find_element(By.ID, button).click()
        record(
            "heads none/all (buttons) until the graph is redrawn",
            wait_js(driver, CHANGED, "attn-graph"),
        )

    click_token(driver, "bridge")
    button = driver.find_element(By.ID, "search-button")
    WebDriverWait(driver, 30).until(lambda d: button.is_enabled())
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    record("Search until results and summary are visible", wait_js(driver, RESULTS))

    first = driver.find_element(By.CSS_SELECTOR, FIRST_RESULT)
    remember_lines(driver)
    driver.execute_script("arguments[0].click()", first)  # a click event, wherever it lies
    record(
        "click on a result until its sentence is loaded",
        wait_js(driver, f"{CHANGED} && !{LABELS}.some(t => t.startsWith('ze'))", "attn-graph"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", required=True, help="EXBERT_HOME holding the demo corpus")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--landing", default="/", help="the page first opened (default: /)")
    args = parser.parse_args()

    from bench.load import start_server
    from tests.browser import chrome

    proc, base = start_server(args.home, args.workers)
    driver = chrome()
    driver.set_window_size(1400, 1400)
    driver.set_script_timeout(40)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
    results: dict[str, list[dict]] = {}
    try:
        one_run(driver, base, 0, lambda name, sample: None, args.landing)  # warm-up, not counted
        for run in range(1, args.runs + 1):
            keep = lambda name, sample: results.setdefault(name, []).append(sample)  # noqa: E731
            one_run(driver, base, run, keep, args.landing)
            print(
                f"  run {run}: " + ", ".join(f"{v[-1]['ms']:.0f}" for v in results.values()),
                flush=True,
            )
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=30)
    print(f"{args.runs} runs, headless Chromium, exbert serve (default workers), demo corpus")
    print("| action | p50 / p95 ms in the browser | server ms (median) | KB received | requests |")
    print("|---|---|---|---|---|")
    for name, samples in results.items():
        print(f"| {name} | {summarize(samples)} |")


if __name__ == "__main__":
    main()
