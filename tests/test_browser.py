"""The Attention page in a real headless Chromium: what a person clicks and sees."""

from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import ARTIFACTS, LiveServer, chrome

pytestmark = pytest.mark.browser


@pytest.fixture
def live(app):
    server = LiveServer(app.server)
    yield server.url
    server.stop()


@pytest.fixture
def browser(request):
    driver = chrome()
    yield driver
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
    driver.quit()


def wait(driver, seconds=30):
    """Plotly and the grid redraw often: an element read a moment ago may be gone."""
    from selenium.common.exceptions import StaleElementReferenceException

    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,))


def graph_labels(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#attn-graph .textpoint'))"
        ".map(e => e.textContent)"
    )


def line_count(driver) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, "#attn-graph .scatterlayer .js-line"))


def query(driver) -> dict:
    return {
        k: v[0]
        for k, v in parse_qs(urlsplit(driver.current_url).query, keep_blank_values=True).items()
    }


def severe_console_errors(driver) -> list[str]:
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "favicon" not in e["message"]
    ]


def test_type_a_sentence_and_see_the_graph(live, browser):
    browser.get(live + "/")
    box = wait(browser).until(EC.element_to_be_clickable((By.ID, "attn-sentence")))
    box.clear()  # the landing example
    box.send_keys("The cat sat on the mat.", Keys.ENTER)
    wait(browser).until(lambda d: query(d).get("sentence") == "The cat sat on the mat.")
    wait(browser).until(lambda d: "because" not in graph_labels(d) and "cat" in graph_labels(d))
    labels = graph_labels(browser)
    assert labels.count("cat") == 2 and "[CLS]" in labels  # left and right columns
    assert line_count(browser) > 0
    assert query(browser)["sentence"] == "The cat sat on the mat."
    table = browser.find_element(By.ID, "attn-predictions-table").text
    assert "would predict here" in table
    assert severe_console_errors(browser) == []


def test_layer_and_heads_change_the_view_and_back_works(live, browser):
    browser.get(live + "/?sentence=The+dog+barked+at+the+mailman.")
    wait(browser).until(lambda d: "[CLS]" in graph_labels(d))
    before = browser.find_element(By.ID, "attn-graph").get_attribute("innerHTML")
    browser.find_element(By.CSS_SELECTOR, "#attn-layer .dash-slider-thumb").send_keys(
        Keys.ARROW_RIGHT
    )
    wait(browser).until(lambda d: query(d).get("layer") == "1")
    wait(browser).until(
        lambda d: d.find_element(By.ID, "attn-graph").get_attribute("innerHTML") != before
    )
    assert "Layer 1" in browser.find_element(By.ID, "attn-combine-note").text
    browser.find_element(By.ID, "attn-no-heads").click()
    wait(browser).until(lambda d: query(d).get("heads") == "")
    wait(browser).until(lambda d: line_count(d) == 0)
    assert "mean of 0 selected heads" in browser.find_element(By.ID, "attn-combine-note").text
    # a click on one thumbnail selects that head alone
    from selenium.webdriver import ActionChains

    label = [
        e
        for e in browser.find_elements(By.CSS_SELECTOR, "#attn-thumbs .annotation-text")
        if e.text == "head 2"
    ][0]
    ActionChains(browser).move_to_element(label).move_by_offset(0, 25).click().perform()
    wait(browser).until(lambda d: query(d).get("heads") == "2")
    wait(browser).until(lambda d: line_count(d) > 0)
    # hovering a thumbnail previews that head alone; hovering a token shows only its lines
    label = [
        e
        for e in browser.find_elements(By.CSS_SELECTOR, "#attn-thumbs .annotation-text")
        if e.text == "head 3"
    ][0]
    ActionChains(browser).move_to_element(label).move_by_offset(0, 25).perform()
    note = browser.find_element(By.ID, "attn-combine-note")
    wait(browser).until(lambda d: "previewing head 3 alone" in note.text)
    ActionChains(browser).move_to_element(note).perform()
    wait(browser).until(lambda d: "mean of 1 selected head" in note.text)
    all_lines = sum(
        len(e.get_attribute("d").split("M")) - 1
        for e in browser.find_elements(By.CSS_SELECTOR, "#attn-graph .scatterlayer .js-line")
    )
    token = [
        e
        for e in browser.find_elements(By.CSS_SELECTOR, "#attn-graph .textpoint")
        if e.text == "[SEP]"
    ][0]
    ActionChains(browser).move_to_element(token).perform()

    def focused_lines(d):
        n = sum(
            len(e.get_attribute("d").split("M")) - 1
            for e in d.find_elements(By.CSS_SELECTOR, "#attn-graph .scatterlayer .js-line")
        )
        return 0 < n < all_lines

    wait(browser).until(focused_lines)
    browser.back()
    wait(browser).until(lambda d: query(d).get("heads") == "")
    wait(browser).until(lambda d: line_count(d) == 0)
    browser.forward()
    wait(browser).until(lambda d: query(d).get("heads") == "2")
    assert severe_console_errors(browser) == []


def test_select_and_mask_a_token_shows_predictions(live, browser):
    browser.get(live + "/?sentence=The+cat+sat+on+the+mat.")
    wait(browser).until(lambda d: "cat" in graph_labels(d))
    cat = [
        e
        for e in browser.find_elements(By.CSS_SELECTOR, "#attn-graph .textpoint")
        if e.text == "cat"
    ][0]
    from selenium.webdriver import ActionChains

    ActionChains(browser).move_to_element(cat).pause(1.5).click().perform()
    wait(browser).until(lambda d: query(d).get("token") == "2")
    panel = browser.find_element(By.ID, "attn-token-panel")
    wait(browser).until(lambda d: "NOUN" in panel.text)
    button = browser.find_element(By.ID, "attn-mask-button")
    wait(browser).until(lambda d: button.is_enabled())
    button.click()
    wait(browser).until(lambda d: query(d).get("masks") == "2")
    wait(browser).until(lambda d: "[MASK]" in graph_labels(d))
    table = browser.find_element(By.ID, "attn-predictions-table").text
    assert "[MASK]" in table
    assert browser.find_elements(By.ID, "attn-token-predictions")
    assert severe_console_errors(browser) == []


def test_hovering_a_word_shows_its_annotation(live, browser):
    """The graph comes before spaCy's annotation; the hover label shows it once read."""
    from selenium.webdriver import ActionChains

    browser.get(live + "/?sentence=The+cat+slept.")
    wait(browser).until(lambda d: "cat" in graph_labels(d))

    def hover_shows_pos(d):
        word = [
            e for e in d.find_elements(By.CSS_SELECTOR, "#attn-graph .textpoint") if e.text == "cat"
        ][0]
        # away and back: the same point hovered again is no new hover, and the first
        # hover may come before spaCy has read the sentence
        away = d.find_element(By.ID, "attn-combine-note")
        ActionChains(d).move_to_element(away).pause(0.2).move_to_element(word).move_by_offset(
            1, 0
        ).perform()
        labels = " ".join(
            e.text for e in d.find_elements(By.CSS_SELECTOR, "#attn-graph .hoverlayer .hovertext")
        )
        return "POS: NOUN" in labels

    wait(browser).until(hover_shows_pos)
    assert severe_console_errors(browser) == []


def test_a_copied_url_restores_the_view(live, browser):
    url = (
        live
        + "/?sentence=Paris+is+the+capital+of+France.&layer=1&heads=0,3&token=1&hide_special=1&mode=graph"
    )
    browser.get(url)
    wait(browser).until(lambda d: len(graph_labels(d)) >= 8)
    labels = graph_labels(browser)
    assert "[CLS]" not in labels and "[SEP]" not in labels  # hidden
    note = browser.find_element(By.ID, "attn-combine-note").text
    assert "Layer 1" in note and "mean of 2 selected heads" in note
    assert "position 1" in browser.find_element(By.ID, "attn-token-panel").text
    assert browser.find_element(By.ID, "attn-hide-special").is_selected()
    assert (
        browser.find_element(By.ID, "attn-sentence").get_attribute("value")
        == "Paris is the capital of France."
    )
    heatmap = url.replace("mode=graph", "mode=heatmap")
    browser.get(heatmap)
    wait(browser).until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, "#attn-graph .heatmaplayer image, #attn-graph .hm"
        )
    )


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("?sentence=", "Type a sentence"),
        ("?sentence=+++", "Type a sentence"),
        ("?sentence=The+cat.&model=no-such/model", "Unknown model 'no-such/model'"),
        ("?sentence=" + "word+" * 300, "it was cut after"),
    ],
)
def test_bad_input_shows_a_message_and_the_app_keeps_serving(live, browser, search, message):
    browser.get(live + "/" + search)
    wait(browser).until(lambda d: message in d.find_element(By.ID, "attn-messages").text)
    browser.get(live + "/?sentence=Still+serving+😀+emoji.")
    wait(browser).until(lambda d: "[CLS]" in graph_labels(d))
    assert severe_console_errors(browser) == []


def test_the_landing_page_starts_with_a_graph(live, browser):
    """/ opens on an example sentence, drawn: something to see before typing anything."""
    from dashapp.pages.attention.state import EXAMPLES

    browser.get(live + "/")
    wait(browser).until(lambda d: "cat" in graph_labels(d))
    assert line_count(browser) > 0
    assert browser.find_element(By.ID, "attn-sentence").get_attribute("value") == EXAMPLES[0]
    assert "sentence" not in query(browser)  # the address stays clean until something changes
    assert severe_console_errors(browser) == []


def _overlaps(a: dict, b: dict) -> bool:
    return not (
        a["right"] <= b["left"] or b["right"] <= a["left"]
        or a["bottom"] <= b["top"] or b["bottom"] <= a["top"]
    )  # fmt: skip


def test_head_labels_do_not_overlap_at_twelve_heads(tiny_models, db_url, tmp_path, browser):
    """A model with 12 heads: every thumbnail's label is readable, none over another or over
    a thumbnail of the row above; and the layer slider's labels leave "Heads" visible."""
    from dashapp.app import create_app
    from tests import tiny
    from tests.conftest import settings_for

    model = str(tiny.build("bert-mlm", tmp_path / "twelve", heads=12))
    server = LiveServer(create_app(settings_for(model, db_url)).server)
    try:
        browser.get(server.url + "/?sentence=The+cat+sat+on+the+mat+because+it+was+tired.")
        wait(browser).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#attn-thumbs .annotation-text")) == 12
        )
        boxes = browser.execute_script(
            "return Array.from(document.querySelectorAll('#attn-thumbs .annotation-text'))"
            ".map(e => e.getBoundingClientRect().toJSON())"
        )
        assert all(b["width"] > 0 for b in boxes)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not _overlaps(a, b), (a, b)
        # each label sits above its own thumbnail, clear of the row above
        veils = browser.execute_script(
            "const gd = document.querySelector('#attn-thumbs .js-plotly-plot');"
            "return gd._fullLayout.shapes.map(s => [s.y0, s.y1]);"
        )
        assert len(veils) == 12
        heads_label = browser.find_element(By.XPATH, "//span[text()='Heads']").rect
        for mark in browser.find_elements(
            By.CSS_SELECTOR, "#attn-layer .dash-slider-mark, #attn-layer .rc-slider-mark-text"
        ):
            assert not _overlaps(_rect(mark.rect), _rect(heads_label))
        assert severe_console_errors(browser) == []
    finally:
        server.stop()


def _rect(r: dict) -> dict:
    return {
        "left": r["x"],
        "right": r["x"] + r["width"],
        "top": r["y"],
        "bottom": r["y"] + r["height"],
    }


def test_figures_save_as_svg_and_png(live, browser, tmp_path):
    """The attention graph downloads as a standalone SVG (for papers) and as a PNG."""
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.get(live + "/?sentence=The+cat+sat+on+the+mat.")
    wait(browser).until(lambda d: "cat" in graph_labels(d))
    for fmt in ("svg", "png"):
        button = browser.find_element(
            By.CSS_SELECTOR,
            f"#attn-graph-export-{fmt}, [id*='\"format\":\"{fmt}\"'][id*='attn-graph']",
        )
        button.click()
        wait(browser).until(lambda d, f=fmt: list(tmp_path.glob(f"exbert-attention*.{f}")))
    svg = next(tmp_path.glob("exbert-attention*.svg")).read_text()
    assert svg.startswith("<svg") and ">cat<" in svg and "<path" in svg
    png = next(tmp_path.glob("exbert-attention*.png")).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert severe_console_errors(browser) == []


def rows(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#search-grid .ag-row")


def choose(driver, dropdown: str, value: str) -> bool:
    """One step of picking `value` in a multi-value dropdown, True once it shows as chosen:
    keys typed before the menu has opened are lost on a busy machine (the full run once
    searched without the filter), so open it, then type, then look."""
    chosen = driver.find_elements(By.CSS_SELECTOR, f"#{dropdown}-value .dash-dropdown-value-item")
    if value in [c.text for c in chosen]:
        return True
    menu = driver.find_element(By.ID, dropdown)
    if menu.get_attribute("data-state") != "open":
        menu.click()
    else:
        ActionChains(driver).send_keys(value).pause(0.3).send_keys(Keys.ENTER).perform()
    return False


def test_search_from_the_page(search_env, browser, tmp_path):
    from dashapp.app import create_app

    server = LiveServer(create_app(search_env["settings"]).server)
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    try:
        browser.set_window_size(1400, 2600)
        browser.get(server.url + "/?sentence=The+cat+sat+on+the+mat+in+New+York.&token=2&layer=1")
        button = wait(browser).until(EC.element_to_be_clickable((By.ID, "search-button")))
        assert "Search 'cat'" in button.text
        button.click()
        wait(browser).until(
            lambda d: "50 matches in" in d.find_element(By.ID, "search-message").text
        )
        wait(browser).until(lambda d: len(rows(d)) >= 5)  # a virtualised grid draws what shows
        # one summary figure with its seven panels
        assert len(browser.find_elements(By.CSS_SELECTOR, "#search-summary .js-plotly-plot")) == 1
        assert len(browser.find_elements(By.CSS_SELECTOR, "#search-summary .barlayer .trace")) == 7
        # every match is marked and carries its annotation on hover
        matches = browser.find_elements(By.CSS_SELECTOR, "#search-grid .search-word.match")
        assert matches and all(", " in m.get_attribute("title") for m in matches)
        # a POS filter: every match is then a noun
        wait(browser).until(lambda d: choose(d, "search-pos", "NOUN"))
        browser.find_element(By.TAG_NAME, "h5").click()  # close the menu
        button.click()

        def all_nouns(d):
            titles = [
                m.get_attribute("title")
                for m in d.find_elements(By.CSS_SELECTOR, "#search-grid .search-word.match")
            ]
            pos = [
                c.text
                for c in d.find_elements(By.CSS_SELECTOR, "#search-grid [col-id='match_pos']")
            ]
            return titles and all(", NOUN (" in t for t in titles) and set(pos[1:]) == {"NOUN"}

        wait(browser).until(all_nouns)
        # the CSV comes from the server with the annotations
        browser.find_element(By.ID, "search-csv-button").click()
        wait(browser).until(lambda d: list(tmp_path.glob("exbert-search*.csv")))
        csv = next(tmp_path.glob("exbert-search*.csv")).read_text().splitlines()
        assert csv[0].startswith("rank,score,sentence_id") and len(csv) == 51
        assert all(",NOUN," in line for line in csv[1:])
        # clicking a result loads its sentence into the attention view
        first = browser.find_element(
            By.CSS_SELECTOR, "#search-grid .ag-row[row-index='0'] [col-id='sentence']"
        )
        text = first.text
        first.click()
        wait(browser).until(lambda d: query(d).get("sentence") == text)
        assert browser.find_element(By.ID, "attn-sentence").get_attribute("value") == text
        assert severe_console_errors(browser) == []
    finally:
        server.stop()


def test_sql_page(search_env, browser, tmp_path):
    """Pick an example, see its rows, download them, see PostgreSQL's error with a caret
    for a bad query, and open a link that reproduces a query."""
    from dashapp.app import create_app

    server = LiveServer(create_app(search_env["settings"]).server)
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    try:
        browser.get(server.url + "/sql")
        example = wait(browser).until(
            EC.element_to_be_clickable((By.CSS_SELECTOR, "[id*='sql-example']"))
        )
        example.click()
        wait(browser).until(lambda d: "rows in" in d.find_element(By.ID, "sql-message").text)
        wait(browser).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sql-grid .ag-row")) > 3
        )
        headers = [
            e.text for e in browser.find_elements(By.CSS_SELECTOR, "#sql-grid .ag-header-cell-text")
        ]
        assert headers[:3] == ["pos", "words", "percent"]
        assert "q=" in browser.current_url
        browser.find_element(By.ID, "sql-csv").click()
        wait(browser).until(lambda d: list(tmp_path.glob("exbert-sql*.csv")))
        csv = next(tmp_path.glob("exbert-sql*.csv")).read_text()
        assert "NOUN" in csv and "pos" in csv.splitlines()[0]
        # a bad query: PostgreSQL's message, and a caret under where it points
        box = browser.find_element(By.ID, "sql-query")
        box.send_keys(Keys.CONTROL, "a")  # as a person does: clear() bypasses React's state
        box.send_keys(Keys.DELETE, "SELECT pos, nope FROM words")
        browser.find_element(By.ID, "sql-run").click()
        error = wait(browser).until(lambda d: d.find_element(By.ID, "sql-error"))
        assert 'column "nope" does not exist' in error.text
        caret = browser.find_element(By.ID, "sql-error-caret").text.splitlines()
        assert caret[1].index("^") == caret[0].index("nope")
        # a link reproduces a query
        browser.get(server.url + "/sql?q=SELECT+count(*)+AS+n+FROM+sentences")
        wait(browser).until(lambda d: "1 row in" in d.find_element(By.ID, "sql-message").text)
        assert (
            browser.find_element(By.ID, "sql-query")
            .get_attribute("value")
            .startswith("SELECT count")
        )
        assert severe_console_errors(browser) == []
    finally:
        server.stop()


def test_heads_page_from_a_statistic_to_a_sentence(search_env, browser):
    """Open Heads, pick a statistic, click a cell, and land on the Attention page with that
    layer and only that head selected."""
    from dashapp.app import create_app

    server = LiveServer(create_app(search_env["settings"]).server)
    try:
        browser.get(server.url + "/heads")
        wait(browser).until(
            lambda d: d.find_elements(
                By.CSS_SELECTOR, "#heads-graph .hm, #heads-graph .heatmaplayer image"
            )
        )
        note = browser.find_element(By.ID, "heads-note").text
        assert "sentences" in note, note
        browser.find_element(By.CSS_SELECTOR, "#heads-statistic").click()
        wait(browser).until(
            lambda d: d.find_element(By.CSS_SELECTOR, '[role="option"] input[value="self"]')
        ).find_element(By.XPATH, "ancestor::label").click()
        wait(browser).until(lambda d: query(d).get("statistic") == "self")
        wait(browser).until(
            lambda d: "attention to itself" in d.find_element(By.ID, "heads-graph").text
        )
        plot = browser.find_element(By.CSS_SELECTOR, "#heads-graph .nsewdrag")
        # the bottom-right cell: the last layer, the last head
        width, height = plot.size["width"], plot.size["height"]
        ActionChains(browser).move_to_element_with_offset(
            plot, width // 2 - 5, height // 2 - 5
        ).click().perform()
        link = wait(browser).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#heads-example-list a")
        )
        heading = browser.find_element(By.CSS_SELECTOR, "#heads-examples h6").text
        assert heading.startswith("Layer 1, head 3")
        sentence = link.text
        link.click()
        wait(browser).until(lambda d: query(d).get("sentence") == sentence)
        assert query(browser)["layer"] == "1" and query(browser)["heads"] == "3"
        wait(browser).until(
            lambda d: "mean of 1 selected head" in d.find_element(By.ID, "attn-combine-note").text
        )
        assert severe_console_errors(browser) == []
    finally:
        server.stop()


def test_corpora_page_upload_reaches_the_store_with_progress_to_100(
    app, app_env, browser, tmp_path
):
    """Upload a file from the browser: a job is queued, a worker ingests it, the page's
    progress bar reaches 100% and the table shows the corpus; a file too big for the page
    gets a message before anything is sent."""
    import threading

    from db.engine import sessions
    from ingest.worker import Worker

    doc = tmp_path / "story.txt"
    doc.write_text("The cat sat on the mat. The dog slept by the door. " * 20)
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (21 * 2**20 // 5))
    server = LiveServer(app.server)
    worker = Worker(sessions(app_env["db_url"]))
    thread = threading.Thread(target=worker.run, daemon=True)
    try:
        browser.get(server.url + "/corpora")
        upload = wait(browser).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#corpora-upload input[type=file]")
        )
        upload.send_keys(str(big))
        wait(browser, 60).until(
            lambda d: "Too big for the page" in d.find_element(By.ID, "corpora-files").text
        )
        browser.get(server.url + "/corpora")  # a file input keeps what it was given
        wait(browser).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#corpora-upload input[type=file]")
        ).send_keys(str(doc))
        wait(browser).until(lambda d: "story.txt" in d.find_element(By.ID, "corpora-files").text)
        browser.find_element(By.ID, "corpora-name").send_keys("uploaded")
        browser.find_element(By.ID, "corpora-add").click()
        note = wait(browser).until(lambda d: d.find_element(By.ID, "corpora-added-note"))
        assert "queued" in note.text
        wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".job-progress"))
        thread.start()
        wait(browser, 120).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".job-status").text.strip() == "done"
        )
        bar = browser.find_element(By.CSS_SELECTOR, ".job-progress .progress-bar")
        assert bar.get_attribute("aria-valuenow") == "100"
        wait(browser).until(lambda d: "uploaded" in d.find_element(By.ID, "corpora-table").text)
        assert severe_console_errors(browser) == []
    finally:
        worker.stop.set()
        server.stop()


def test_switching_heads_off_follows_the_layer_and_heads(live, browser):
    """The switch shows the predictions with the selected heads off; while it is on, a layer
    change reruns the model without that layer's heads."""
    browser.get(live + "/?sentence=The+dog+barked+at+the+mailman.&layer=1&heads=0,2")
    wait(browser).until(lambda d: "[CLS]" in graph_labels(d))
    predictions = lambda d: d.find_element(By.ID, "attn-predictions").text  # noqa: E731
    assert "switched off" not in predictions(browser)
    browser.find_element(By.CSS_SELECTOR, "#attn-ablate").click()
    wait(browser).until(lambda d: "with layer 1's heads 0, 2 switched off" in predictions(d))
    browser.find_element(By.CSS_SELECTOR, "#attn-layer .dash-slider-thumb").send_keys(
        Keys.ARROW_LEFT
    )
    wait(browser).until(lambda d: "with layer 0's heads 0, 2 switched off" in predictions(d))
    browser.find_element(By.CSS_SELECTOR, "#attn-ablate").click()
    wait(browser).until(lambda d: "switched off" not in predictions(d))
    assert severe_console_errors(browser) == []
