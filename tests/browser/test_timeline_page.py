"""The timeline page's spec, in a real browser: the bars of known appearances land where they
belong (±1 px), hover tells the right numbers, the list filters by status, the keyboard moves
across bars, a click seeks the player and draws the face box, and the text is readable (AA).

Known appearances (tests/api/world.py, 65 s runtime): Bezos 1.0-2.0 s (3 detections, best 99.5,
mean 98.25) and 10.0-10.5 s (2, best 93), Swift 3.0-4.0 s (3, best 99.75).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from cameo_core.api.ids import video_id
from cameo_stack.demo import page_url
from tests.api.world import BEZOS, DURATION_MS, EVANS, FAILURE_REASON, SWIFT, World, page
from tests.browser.conftest import FACE_BOX, Site
from tests.support import fakes

BARS = {BEZOS: [(1000, 2000), (10000, 10500)], SWIFT: [(3000, 4000)]}
TOLERANCE_PX = 1.0
RECT = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom];"
CAPTION = "const c = document.querySelector('caption'); return c ? c.textContent : '';"


def wait(browser: Any, condition: Any, timeout: float = 10) -> Any:
    return WebDriverWait(browser, timeout).until(lambda d: condition(d))


def rect(browser: Any, element: Any) -> tuple[float, float, float, float]:
    left, right, top, bottom = browser.execute_script(RECT, element)
    return left, right, top, bottom


def bar(browser: Any, celebrity: str, start_ms: int) -> Any:
    return browser.find_element(
        By.CSS_SELECTOR, f'.bar[data-celebrity-id="{celebrity}"][data-start-ms="{start_ms}"]'
    )


def open_video(browser: Any, site: Site) -> None:
    browser.get(site.video_page("red_carpet"))
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".bar")) == 3)


def assert_bars_placed(browser: Any) -> dict[tuple[str, int], float]:
    """Each bar's edges at track.left + ms / runtime * track.width; returns the widths."""
    widths = {}
    for celebrity, spans in BARS.items():
        track = browser.find_element(By.CSS_SELECTOR, f'.lane[data-celebrity-id="{celebrity}"]')
        t_left, t_right, _, _ = rect(browser, track)
        scale = (t_right - t_left) / DURATION_MS
        found = track.find_elements(By.CSS_SELECTOR, ".bar")
        assert len(found) == len(spans), (celebrity, len(found))
        for start, end in spans:
            left, right, _, _ = rect(browser, bar(browser, celebrity, start))
            assert abs(left - (t_left + start * scale)) <= TOLERANCE_PX, (celebrity, start, left)
            assert abs(right - (t_left + end * scale)) <= TOLERANCE_PX, (celebrity, end, right)
            widths[(celebrity, start)] = right - left
    return widths


def test_each_celebrity_gets_a_lane_with_bars_where_their_appearances_are(
    browser: Any, site: Site, screenshot: Any
) -> None:
    open_video(browser, site)
    # The legend and the lanes in screen-time order: Bezos 1.5 s, then Swift 1.0 s.
    lanes = browser.find_elements(By.CSS_SELECTOR, ".lane")
    assert [lane.get_attribute("data-celebrity-id") for lane in lanes] == [BEZOS, SWIFT]
    legend = [r.text for r in browser.find_elements(By.CSS_SELECTOR, ".legend tbody tr")]
    assert legend[0].startswith("Jeff Bezos 1.5 s 2.3 %"), legend
    assert legend[1].startswith("Taylor Swift 1.0 s 1.5 %"), legend
    widths = assert_bars_placed(browser)
    # An appearance of 1 s over 65 s of lane: about 1/65 of the lane's width.
    assert widths[(BEZOS, 1000)] > 5

    # Zoom in twice: the axis is 4 times as wide, every bar still on its time.
    zoom_in = browser.find_element(By.CSS_SELECTOR, 'button[aria-label="Zoom in"]')
    zoom_in.click()
    zoom_in.click()
    assert browser.find_element(By.ID, "zoom-level").text == "4\N{MULTIPLICATION SIGN}"
    zoomed = assert_bars_placed(browser)
    for key, width in widths.items():
        assert abs(zoomed[key] - 4 * width) <= 2 * TOLERANCE_PX, (key, width, zoomed[key])
    browser.find_element(By.CSS_SELECTOR, 'button[aria-label="Zoom out"]').click()
    browser.find_element(By.CSS_SELECTOR, 'button[aria-label="Zoom out"]').click()
    assert browser.find_element(By.ID, "zoom-level").text == "1\N{MULTIPLICATION SIGN}"

    # Every bar has a text alternative with its numbers.
    label = bar(browser, SWIFT, 3000).get_attribute("aria-label")
    assert label == ("Taylor Swift, 0:03.0 to 0:04.0, 1.0 s, 3 detections, best confidence 99.75 %")

    # Hover: from, to, duration, detections, confidences and Urls.
    ActionChains(browser).move_to_element(bar(browser, BEZOS, 1000)).perform()
    tip = browser.find_element(By.ID, "tooltip")
    wait(browser, lambda d: tip.is_displayed())
    assert tip.text.split("\n") == [
        "Jeff Bezos",
        "From",
        "0:01.0",
        "To",
        "0:02.0",
        "Duration",
        "1.0 s",
        "Detections",
        "3",
        "Best confidence",
        "99.5 %",
        "Mean confidence",
        "98.25 %",
        "Urls",
        f"www.wikidata.org/wiki/{BEZOS}",
    ]
    ActionChains(browser).move_to_element(bar(browser, SWIFT, 3000)).perform()
    wait(browser, lambda d: "Taylor Swift" in tip.text)
    assert "0:03.0\nTo\n0:04.0\nDuration\n1.0 s\nDetections\n3\nBest confidence\n99.75 %" in (
        tip.text
    )

    # A click seeks the player to the appearance and draws its face box, named.
    bar(browser, BEZOS, 1000).click()
    wait(
        browser,
        lambda d: (
            d.execute_script("return document.getElementById('player').readyState") >= 1
            and not d.execute_script("return document.getElementById('player').seeking")
        ),
    )
    assert browser.execute_script("return document.getElementById('player').currentTime") == 1.0
    box = browser.find_element(By.CSS_SELECTOR, ".facebox")
    wait(browser, lambda d: box.is_displayed())
    assert box.text == "Jeff Bezos (99.5)"
    v_left, v_right, v_top, v_bottom = rect(browser, browser.find_element(By.ID, "player"))
    b_left, b_right, b_top, b_bottom = rect(browser, box)
    left, top, width, height = FACE_BOX  # the clip is 16:9 like its player: no letterbox
    assert abs(b_left - (v_left + left * (v_right - v_left))) <= TOLERANCE_PX
    assert abs(b_right - (v_left + (left + width) * (v_right - v_left))) <= TOLERANCE_PX
    assert abs(b_top - (v_top + top * (v_bottom - v_top))) <= TOLERANCE_PX
    assert abs(b_bottom - (v_top + (top + height) * (v_bottom - v_top))) <= TOLERANCE_PX
    details = browser.find_element(By.CSS_SELECTOR, ".details").text
    assert "Jeff Bezos" in details and "98.25 %" in details
    # Who is on screen there, as GET /videos/{id}/at/{ms} answers it.
    on_screen = browser.find_element(By.CSS_SELECTOR, ".on-screen")
    wait(browser, lambda d: on_screen.text)
    assert on_screen.text == "At 0:01.0: Jeff Bezos."
    # The WebVTT export as captions: the whole cast, and one track per celebrity.
    tracks = browser.execute_script(
        "return [...document.getElementById('player').textTracks].map((t) => t.label)"
    )
    assert tracks == ["Cast", "Jeff Bezos", "Taylor Swift"]

    # With the pointer on Swift's bar, this is the picture in the README.
    ActionChains(browser).move_to_element(bar(browser, SWIFT, 3000)).perform()
    wait(browser, lambda d: "Taylor Swift" in tip.text)
    shot = screenshot("timeline")
    assert shot.stat().st_size > 10_000

    # Export links: the API's own WebVTT and CSV.
    vtt = browser.find_element(By.PARTIAL_LINK_TEXT, "WebVTT").get_attribute("href")
    csv = browser.find_element(By.PARTIAL_LINK_TEXT, "CSV").get_attribute("href")
    assert vtt.startswith(site.url) and vtt.endswith("/appearances.vtt")
    assert csv.startswith(site.url) and csv.endswith("/appearances.csv")


def test_the_confidence_threshold_hides_weaker_appearances(browser: Any, site: Site) -> None:
    open_video(browser, site)
    browser.execute_script(
        "const s = document.getElementById('min-confidence');"
        "s.value = '95'; s.dispatchEvent(new Event('input'));"
    )
    # Bezos's second appearance is best 93: gone; the 99.5 and 99.75 ones stay.
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".bar")) == 2)
    kept = {
        (b.get_attribute("data-celebrity-id"), b.get_attribute("data-start-ms"))
        for b in browser.find_elements(By.CSS_SELECTOR, ".bar")
    }
    assert kept == {(BEZOS, "1000"), (SWIFT, "3000")}
    assert "2 of 3 appearances shown" in browser.find_element(By.CSS_SELECTOR, ".summary").text


def test_arrow_keys_move_focus_across_bars(browser: Any, site: Site) -> None:
    open_video(browser, site)
    # One tab stop for the swimlanes (roving tabindex): the first bar.
    entry = browser.find_elements(By.CSS_SELECTOR, '.bar[tabindex="0"]')
    assert [
        (b.get_attribute("data-celebrity-id"), b.get_attribute("data-start-ms")) for b in entry
    ] == [(BEZOS, "1000")]

    def focused() -> tuple[str, str]:
        active = browser.switch_to.active_element
        return active.get_attribute("data-celebrity-id"), active.get_attribute("data-start-ms")

    browser.execute_script("arguments[0].focus()", entry[0])
    steps = [
        (Keys.ARROW_RIGHT, (BEZOS, "10000")),
        (Keys.ARROW_RIGHT, (BEZOS, "10000")),  # the last one stays
        (Keys.ARROW_DOWN, (SWIFT, "3000")),  # the nearest in time in the next lane
        (Keys.ARROW_UP, (BEZOS, "1000")),
        (Keys.END, (BEZOS, "10000")),
        (Keys.HOME, (BEZOS, "1000")),
    ]
    for key, expected in steps:
        browser.switch_to.active_element.send_keys(key)
        assert focused() == expected, key
    # The tooltip follows the focus, so keyboard users get the numbers too.
    assert browser.find_element(By.ID, "tooltip").is_displayed()
    # + and - zoom from the keyboard, and the focus stays on its bar.
    browser.switch_to.active_element.send_keys("+")
    assert browser.find_element(By.ID, "zoom-level").text == "2\N{MULTIPLICATION SIGN}"
    assert focused() == (BEZOS, "1000")
    browser.switch_to.active_element.send_keys("-")
    assert browser.find_element(By.ID, "zoom-level").text == "1\N{MULTIPLICATION SIGN}"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait(
        browser,
        lambda d: d.execute_script("return document.getElementById('player').currentTime") == 1.0,
    )


def test_zooming_keeps_the_focused_bar_in_view(browser: Any, site: Site) -> None:
    open_video(browser, site)
    # A bar away from the left edge: zooming around the middle of the window would lose it.
    target = bar(browser, BEZOS, 10000)
    browser.execute_script("arguments[0].focus()", target)
    for _ in range(6):
        browser.switch_to.active_element.send_keys("+")
    assert browser.find_element(By.ID, "zoom-level").text == "64\N{MULTIPLICATION SIGN}"
    assert browser.switch_to.active_element == target
    left, right, _, _ = rect(browser, target)
    view_left, view_right, _, _ = rect(browser, browser.find_element(By.CSS_SELECTOR, ".tracks"))
    assert right - left > 100  # 0.5 s of 65 s at 64x: a wide bar, so "inside" means something
    assert view_left - TOLERANCE_PX <= left and right <= view_right + TOLERANCE_PX, (
        (left, right),
        (view_left, view_right),
    )


def test_the_status_filter_works_from_the_keyboard(browser: Any, site: Site) -> None:
    browser.get(site.url + "/")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-status]")) == 5)
    browser.execute_script("document.getElementById('status-filter').focus()")
    # On a closed <select>, each arrow key changes the value (a `change`): the list re-renders.
    for key, status, caption in [
        (Keys.ARROW_DOWN, "QUEUED", "queued"),
        (Keys.ARROW_DOWN, "STARTING", "starting"),
        (Keys.ARROW_UP, "QUEUED", "queued"),
    ]:
        browser.switch_to.active_element.send_keys(key)
        wait(browser, lambda d, s=status: d.current_url.endswith(f"status={s}"))
        # Read in one script: the list may be replaced between finding an element and reading it.
        wait(browser, lambda d, c=caption: c in d.execute_script(CAPTION))
        active = browser.switch_to.active_element
        assert active.get_attribute("id") == "status-filter", active.tag_name
        assert active.get_attribute("value") == status
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-status]"))
    assert [r.get_attribute("data-status") for r in rows] == ["QUEUED"]


def test_the_video_list_is_newest_first_and_filters_by_status(
    browser: Any, site: Site, screenshot: Any
) -> None:
    browser.get(site.url + "/")
    rows = wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.videos tbody tr[data-status]")
    )
    assert [r.find_element(By.CSS_SELECTOR, "td.key").text for r in rows] == [
        "queued.mp4",
        "huge.mp4",
        "broken.avi",
        "news.mov",
        "clips/red carpet é.mp4",
    ]
    red = rows[-1].text
    assert "succeeded" in red and "1:05.0" in red  # status, runtime
    assert rows[-1].find_elements(By.CSS_SELECTOR, "td.num")[1].text == "2"  # cast size
    # The queued one's place and wait, from its status record (queued on 2026-11-01).
    assert re.search(r"next in line, waiting \d+ days", rows[0].text), rows[0].text
    screenshot("videos")

    Select(browser.find_element(By.ID, "status-filter")).select_by_visible_text("failed")
    wait(browser, lambda d: "status=FAILED" in d.current_url)
    rows = wait(
        browser,
        lambda d: (
            [r for r in d.find_elements(By.CSS_SELECTOR, "table.videos tbody tr[data-status]")]
            if "failed" in d.find_element(By.CSS_SELECTOR, "table.videos caption").text
            else None
        ),
    )
    assert [r.get_attribute("data-status") for r in rows] == ["FAILED"]
    assert "broken.avi" in rows[0].text and FAILURE_REASON in rows[0].text

    Select(browser.find_element(By.ID, "status-filter")).select_by_visible_text("rejected")
    wait(browser, lambda d: "rejected" in d.find_element(By.CSS_SELECTOR, "caption").text)
    rows = wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.videos tbody tr[data-status]")
    )
    assert [r.find_element(By.CSS_SELECTOR, "td.key").text for r in rows] == ["huge.mp4"]
    assert "the limit is 10737418240 bytes" in rows[0].text  # the reason it was refused


def test_a_celebrity_page_lists_their_videos_and_links_back(browser: Any, site: Site) -> None:
    open_video(browser, site)
    browser.find_element(By.CSS_SELECTOR, ".legend").find_element(
        By.LINK_TEXT, "Jeff Bezos"
    ).click()
    rows = wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.celebrity-videos tbody tr")
    )
    texts = sorted(r.text for r in rows)
    assert len(texts) == 2
    assert texts[0].startswith("s3://") and "clips/red carpet é.mp4 1.5 s" in " ".join(texts)
    assert any("news.mov 1.0 s" in t for t in texts), texts
    link = browser.find_element(By.PARTIAL_LINK_TEXT, "news.mov")
    link.click()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".lane")) == 2)
    lanes = [
        lane.get_attribute("data-celebrity-id")
        for lane in browser.find_elements(By.CSS_SELECTOR, ".lane")
    ]
    assert set(lanes) == {BEZOS, EVANS}


CONTRAST_PROBE = """
function rgb(text) { const m = text.match(/[\\d.]+/g) || []; return m.map(Number); }
function background(node) {
  for (let n = node; n; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
  }
  return [255, 255, 255];
}
const out = [];
for (const node of document.querySelectorAll('body *')) {
  const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
  const shown = node.getClientRects().length && getComputedStyle(node).visibility !== 'hidden';
  if (!own || !shown) continue;
  out.push([node.textContent.trim().slice(0, 40), rgb(getComputedStyle(node).color).slice(0, 3),
            background(node)]);
}
return out;
"""


BAR_PROBE = """
const rgb = (t) => (t.match(/[\\d.]+/g) || []).map(Number).slice(0, 3);
const bg = (node) => rgb(getComputedStyle(node).backgroundColor);
return [...document.querySelectorAll('.bar')].map((b) => [bg(b), bg(b.parentElement)]);
"""


def _luminance(colour: list[float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[float], b: list[float]) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("page", ["list", "video"])
def test_text_contrast_passes_wcag_aa(browser: Any, site: Site, page: str) -> None:
    if page == "list":
        browser.get(site.url + "/")
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-status]"))
    else:
        open_video(browser, site)
        bar(browser, BEZOS, 1000).click()  # the face box's label too
        ActionChains(browser).move_to_element(
            bar(browser, SWIFT, 3000)
        ).perform()  # and the tooltip
    texts = browser.execute_script(CONTRAST_PROBE)
    assert len(texts) > 20
    poor = [
        (t, fg, bg, round(contrast(fg, bg), 2)) for t, fg, bg in texts if contrast(fg, bg) < 4.5
    ]
    assert poor == []
    if page == "video":  # bars against their lane: 3:1 for graphics (WCAG 1.4.11)
        pairs = browser.execute_script(BAR_PROBE)
        assert len(pairs) == 3
        assert [p for p in pairs if contrast(p[0], p[1]) < 3] == []


def test_the_url_the_demo_prints_opens_that_videos_timeline(browser: Any, site: Site) -> None:
    video = site.videos["news"]
    browser.get(page_url(site.url + "/", video.uri))
    heading = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".video-head h1"))
    assert heading[0].text == video.key
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".bar")) == 2)


def test_a_celebrity_is_found_by_name(browser: Any, site: Site) -> None:
    browser.get(site.url + "/")
    field = wait(browser, lambda d: d.find_element(By.ID, "celebrity-name"))
    field.send_keys("Taylor Swift", Keys.ENTER)
    found = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".found a"))
    assert [a.text for a in found] == ["Taylor Swift"]
    assert "1 video, 1.0 s" in browser.find_element(By.CSS_SELECTOR, ".found").text
    found[0].click()
    rows = wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.celebrity-videos tbody tr")
    )
    assert len(rows) == 1 and "red carpet" in rows[0].text
    browser.get(site.url + "/")
    field = wait(browser, lambda d: d.find_element(By.ID, "celebrity-name"))
    field.send_keys("Nobody Atall", Keys.ENTER)
    wait(
        browser,
        lambda d: "Nobody called Nobody Atall" in d.find_element(By.CSS_SELECTOR, ".found").text,
    )


def test_names_and_keys_are_shown_as_text_never_as_markup(
    browser: Any, site: Site, world: World
) -> None:
    evil = '<img src=x onerror="window.__xss = 1">'
    video = world.upload(f"{evil}.mp4", 5)
    world.finish(video, "job-xss", [page([fakes.detection(1000, "XSS1", evil, 99.0)])])
    browser.get(site.url + "/")
    keys = wait(browser, lambda d: [c.text for c in d.find_elements(By.CSS_SELECTOR, "td.key")])
    assert f"{evil}.mp4" in keys
    browser.get(f"{site.url}/#/video/{video_id(video)}")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".bar")) == 1)
    assert browser.find_element(By.CSS_SELECTOR, ".video-head h1").text == f"{evil}.mp4"
    assert evil in browser.find_element(By.CSS_SELECTOR, ".legend").text
    bar(browser, "XSS1", 1000).click()
    assert evil in browser.find_element(By.CSS_SELECTOR, ".details h2").text
    assert browser.execute_script("return document.querySelectorAll('main img').length") == 0
    assert browser.execute_script("return window.__xss === undefined")


def test_a_malformed_address_says_so(browser: Any, site: Site) -> None:
    browser.get(site.url + "/#/video/%E0")
    alert = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    assert "not valid" in alert[0].text and "%E0" in alert[0].text
    assert browser.find_element(By.CSS_SELECTOR, "a.back").get_attribute("href").endswith("#/")
