"""The messenger example (``examples/messenger``) in headless Chromium against a real
``runnel serve``: two users' pages, live delivery with a browser notification or an
in-page toast, missed messages after a page was closed, restarts of the server and of
the app with nothing lost or doubled, bad input, and a v1 → v2 schema rollout with
both versions of the app running.

The app is the example binary ``cargo test`` builds (``target/debug/examples/messenger``,
next to ``RUNNEL_BIN``; ``MESSENGER_BIN`` overrides). Pages are saved as PNGs under
``target/messenger-screenshots/``.
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import REPO, RunnelServer, drain, runnel_bin

SHOTS = REPO / "target" / "messenger-screenshots"

# Wraps the page's Notification so that the test sees what was shown (the real one
# still runs), installed before any script of the page.
RECORD_NOTIFICATIONS = """
window.__notifications = [];
if (window.Notification) {
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({title, body: options && options.body});
    }
  }
  Object.defineProperty(Recorded, 'permission', {get: () => Real.permission});
  Recorded.requestPermission = (...a) => Real.requestPermission(...a);
  window.Notification = Recorded;
}
"""


def messenger_bin():
    path = os.environ.get("MESSENGER_BIN") or str(Path(runnel_bin()).parent / "examples" / "messenger")
    if not Path(path).exists():
        pytest.fail(f"the messenger example is missing at {path}: run `cargo build --example messenger`")
    return path


class Messenger:
    """The example app as a child process; ``restart()`` starts it again on the same address."""

    def __init__(self, server, schema="v2", addr="127.0.0.1:0"):
        self.server, self.schema = server, schema
        self._start(addr)

    def _start(self, addr):
        env = dict(os.environ, RUNNEL_URL=self.server.grpc_url, RUNNEL_REGISTRY_URL=self.server.registry_url,
                   MESSENGER_ADDR=addr, MESSENGER_SCHEMA=self.schema)
        self.proc = subprocess.Popen([messenger_bin()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        timer = threading.Timer(30, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                match = re.search(r"messenger listening on (http://\S+)", line)
                if match:
                    self.url = match.group(1)
                    break
            else:
                self.proc.wait()
                pytest.fail(f"the messenger did not start: {self.proc.stderr.read()}")
        finally:
            timer.cancel()
        for pipe in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=drain, args=(pipe,), daemon=True).start()

    def restart(self):
        self.stop()
        self._start(self.url.split("://", 1)[1])

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def send(self, sender, to, text, **extra):
        return requests.post(f"{self.url}/send", json={"from": sender, "to": to, "text": text, **extra}, timeout=30)

    def inbox(self, user):
        r = requests.get(f"{self.url}/inbox/{user}", timeout=30)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def server():
    s = RunnelServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def app(server):
    a = Messenger(server)
    yield a
    a.stop()


def chrome(notifications_for=None):
    """A headless Chromium; with ``notifications_for`` (an origin) notifications are
    allowed there and recorded in ``window.__notifications``."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,800",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_NOTIFICATIONS})
    if notifications_for:
        driver.execute_cdp_cmd("Browser.grantPermissions",
                               {"origin": notifications_for, "permissions": ["notifications"]})
    return driver


@pytest.fixture(scope="module")
def browsers(app):
    """Two browsers: one allows notifications on the app's origin (127.0.0.1), the other
    opens the app as ``localhost`` (another origin, where nothing is allowed: toasts)."""
    allowed = chrome(notifications_for=app.url)
    plain = chrome()
    yield allowed, plain
    allowed.quit()
    plain.quit()


def page_url(app, user, host=None):
    url = f"{app.url}/u/{user}"
    return url.replace("127.0.0.1", host) if host else url


def open_page(driver, url):
    driver.get(url)
    WebDriverWait(driver, 10).until(lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"))


def inbox_texts(driver):
    return [li.find_element(By.CSS_SELECTOR, ".text").text for li in driver.find_elements(By.CSS_SELECTOR, "#inbox li")]


def inbox_offsets(driver):
    return [int(li.get_attribute("data-offset")) for li in driver.find_elements(By.CSS_SELECTOR, "#inbox li")]


def send_from_page(driver, to, text):
    to_input = driver.find_element(By.ID, "to")
    to_input.clear()
    to_input.send_keys(to)
    text_input = driver.find_element(By.ID, "text")
    text_input.clear()
    text_input.send_keys(text)
    driver.find_element(By.ID, "send").click()


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def wait(driver, seconds, condition, message):
    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(condition, message)


def test_live_delivery_with_notification_and_toast(app, browsers):
    allowed, plain = browsers
    open_page(allowed, page_url(app, "grace"))
    open_page(plain, page_url(app, "ada", host="localhost"))
    assert allowed.execute_script("return Notification.permission") == "granted"
    assert plain.execute_script("return Notification.permission") != "granted"

    # ada → grace: on grace's page within a second, with a browser notification.
    send_from_page(plain, "grace", "Hello Grace, lunch at noon?")
    start = time.monotonic()
    wait(allowed, 1.0, lambda d: inbox_texts(d) == ["Hello Grace, lunch at noon?"], "not on grace's page in 1 s")
    shown = wait(allowed, 1.0, lambda d: d.execute_script("return window.__notifications"), "no notification")
    assert time.monotonic() - start < 1.0
    assert shown == [{"title": "New message from ada", "body": "Hello Grace, lunch at noon?"}]
    assert not allowed.find_elements(By.CSS_SELECTOR, ".toast")
    # On ada's page, the conversation with grace and the message sent.
    wait(plain, 2, lambda d: d.find_elements(By.CSS_SELECTOR, "#conversations li[data-peer='grace']"), "no conversation")

    # grace replies (v2's reply_to): ada's page has no permission, so a toast.
    allowed.find_element(By.CSS_SELECTOR, "#inbox li .reply").click()
    assert allowed.find_element(By.ID, "to").get_attribute("value") == "ada"
    allowed.find_element(By.ID, "text").send_keys("Yes! See you there.")
    allowed.find_element(By.ID, "send").click()
    start = time.monotonic()
    toast = wait(plain, 1.0, lambda d: d.find_elements(By.CSS_SELECTOR, "#toasts .toast"), "no toast on ada's page")
    assert time.monotonic() - start < 1.0
    assert "New message from grace" in toast[0].text and "See you there" in toast[0].text
    assert inbox_texts(plain) == ["Yes! See you there."]
    assert plain.find_element(By.CSS_SELECTOR, "#inbox li .reply-of").text == "↪ ada: Hello Grace, lunch at noon?"
    assert plain.execute_script("return window.__notifications") == []
    # The thread shows both, in order.
    thread = [li.find_element(By.CSS_SELECTOR, ".text").text for li in plain.find_elements(By.CSS_SELECTOR, "#thread li")]
    assert thread == ["Hello Grace, lunch at noon?", "Yes! See you there."]
    shot(plain, "ada-toast")
    shot(allowed, "grace")
    inbox = app.inbox("ada")
    assert [m["text"] for m in inbox] == ["Yes! See you there."]
    assert inbox[0]["reply_to"] == app.inbox("grace")[0]["id"]


def test_missed_messages_come_in_order_on_return(app, browsers):
    allowed, _ = browsers
    open_page(allowed, page_url(app, "hopper"))
    allowed.get("about:blank")  # hopper's page closed
    for i in range(5):
        r = app.send("linus", "hopper", f"missed {i}")
        assert r.status_code == 202, r.text
    open_page(allowed, page_url(app, "hopper"))
    wait(allowed, 5, lambda d: len(inbox_texts(d)) == 5, "the missed messages are not all there")
    assert inbox_texts(allowed) == [f"missed {i}" for i in range(5)]
    assert len(allowed.find_elements(By.CSS_SELECTOR, "#inbox li.new")) == 5
    shown = allowed.execute_script("return window.__notifications")
    assert shown == [{"title": "5 new messages while you were away", "body": "from linus"}]
    shot(allowed, "hopper-missed")
    # Reloaded: the same five, once each, and nothing new to notify.
    allowed.refresh()
    open_page(allowed, page_url(app, "hopper"))
    assert inbox_texts(allowed) == [f"missed {i}" for i in range(5)]
    assert allowed.execute_script("return window.__notifications") == []
    # A message during a reload is on the page once.
    allowed.refresh()
    assert app.send("linus", "hopper", "during the reload").status_code == 202
    open_page(allowed, page_url(app, "hopper"))
    wait(allowed, 2, lambda d: len(inbox_texts(d)) == 6, "the message sent during the reload is missing")
    time.sleep(0.3)
    assert inbox_texts(allowed) == [f"missed {i}" for i in range(5)] + ["during the reload"]
    shot(allowed, "hopper-reloaded")


def test_restarts_lose_nothing_and_double_nothing(server, app, browsers):
    allowed, _ = browsers
    open_page(allowed, page_url(app, "edsger"))
    expected = []

    def send(text):
        r = app.send("tony", "edsger", text)
        assert r.status_code == 202, r.text
        expected.append(text)

    send("before any restart")
    wait(allowed, 2, lambda d: inbox_texts(d) == expected, "not delivered")

    # The app restarts; the page reconnects by itself and misses nothing.
    app.restart()
    send("after the app restarted")
    wait(allowed, 5, lambda d: inbox_texts(d) == expected, "not delivered after the app restarted")

    # The server is SIGKILLed and restarts over its data; the app reconnects.
    server.kill()
    server.restart()
    send("after the server restarted")
    send("and one more")
    wait(allowed, 10, lambda d: inbox_texts(d) == expected, "not delivered after the server restarted")

    # Both at once, with the page closed in between.
    allowed.get("about:blank")
    server.kill()
    app.stop()
    server.restart()
    app.restart()
    send("after both restarted")
    open_page(allowed, page_url(app, "edsger"))
    wait(allowed, 5, lambda d: inbox_texts(d) == expected, "not delivered after both restarted")
    time.sleep(0.5)
    assert inbox_texts(allowed) == expected
    offsets = inbox_offsets(allowed)
    assert offsets == sorted(set(offsets))
    assert [m["text"] for m in app.inbox("edsger")] == expected


class Events:
    """``GET /events/{user}`` read as a stream of server-sent events."""

    def __init__(self, app, user, **headers):
        self.resp = requests.get(f"{app.url}/events/{user}", headers=headers, stream=True, timeout=5)
        assert self.resp.status_code == 200
        assert self.resp.headers["content-type"].startswith("text/event-stream")
        self.lines = self.resp.iter_lines(decode_unicode=True)

    def next(self):
        """The next message event: its id and its JSON data."""
        event = {}
        for line in self.lines:
            if line == "":
                if "data" in event:
                    return int(event["id"]), json.loads(event["data"])
                event = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                event[field] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    def close(self):
        self.resp.close()


def test_event_stream_sends_each_new_message_once(app):
    first = Events(app, "barbara")  # only what is still to come
    for i in range(3):
        r = app.send("alan", "barbara", f"event {i}")
        assert r.status_code == 202, r.text
        # POST /send answers once the message is in the inbox: a GET right after has it.
        assert r.json()["delivered"] is True
        assert app.inbox("barbara")[-1]["id"] == r.json()["id"]
        assert app.inbox("barbara")[-1]["offset"] == r.json()["inbox_offset"]
    got = [first.next() for _ in range(3)]
    first.close()
    assert [m["text"] for _, m in got] == ["event 0", "event 1", "event 2"]
    assert [i for i, _ in got] == [m["offset"] for _, m in got]
    assert [m["offset"] for m in app.inbox("barbara")] == [i for i, _ in got]
    # A reconnecting browser sends the last id it had: the rest follows, then what is new.
    again = Events(app, "barbara", **{"Last-Event-ID": str(got[0][0])})
    assert [again.next()[1]["text"] for _ in range(2)] == ["event 1", "event 2"]
    assert app.send("alan", "barbara", "event 3").status_code == 202
    assert again.next()[1]["text"] == "event 3"
    again.close()


def flood(app, sender, to, n):
    """``n`` messages from ``sender`` at once; their answers."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda i: app.send(sender, to, f"flood {i}"), range(n)))


def test_bad_input_is_refused_with_reasons(app, browsers):
    def refused(status, sender, to, text, reason):
        r = app.send(sender, to, text)
        assert r.status_code == status, r.text
        assert reason in r.json()["error"], r.text

    refused(400, "ada", "grace", "   ", "the message is empty")
    refused(413, "ada", "grace", "x" * 2001, "at most 2000")
    refused(400, "ada", "<script>", "hi", "is not a user name")
    refused(400, "ada", "Grace", "hi", "is not a user name")
    refused(400, "ada", "a/b", "hi", "is not a user name")
    refused(400, "", "grace", "hi", "`from`")
    r = requests.post(f"{app.url}/send", data="{not json", headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 400 and "error" in r.json()
    r = requests.get(f"{app.url}/inbox/..%2Fchat", timeout=10)
    assert r.status_code == 400
    assert requests.get(f"{app.url}/u/%3Cb%3E", timeout=10).status_code == 400

    # A flood from one sender: 10 go at once (and what refills meanwhile, 2 a second),
    # the rest get 429 with when to retry; others still send.
    answers = flood(app, "flood", "grace", 25)
    accepted = [r for r in answers if r.status_code == 202]
    refused = [r for r in answers if r.status_code == 429]
    assert 10 <= len(accepted) <= 11 and len(accepted) + len(refused) == 25, [r.status_code for r in answers]
    assert all("flood is sending too fast" in r.json()["error"] for r in refused)
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert app.send("ada", "grace", "not limited").status_code == 202
    assert len([m for m in app.inbox("grace") if m["from"] == "flood"]) == len(accepted)

    # HTML in a message is shown as text, in the page and the toast.
    allowed, plain = browsers
    open_page(plain, page_url(app, "mallory", host="localhost"))
    html = '<img src=x onerror="window.__xss = 1"><b>bold?</b>'
    assert app.send("ada", "mallory", html).status_code == 202
    wait(plain, 2, lambda d: html in inbox_texts(d), "the HTML message is not shown as text")
    assert html in plain.find_element(By.CSS_SELECTOR, "#toasts .toast").text
    assert plain.execute_script("return window.__xss") is None
    assert not plain.find_elements(By.CSS_SELECTOR, "#inbox img, #inbox b")

    # The page shows the server's reasons.
    send_from_page(plain, "Bad Name", "hi")
    wait(plain, 2, lambda d: "is not a user name" in d.find_element(By.ID, "send-error").text, "no error shown")
    flood(app, "mallory", "ada", 15)
    send_from_page(plain, "ada", "one more")
    wait(plain, 2, lambda d: "mallory is sending too fast" in d.find_element(By.ID, "send-error").text,
         "no rate-limit message shown")
    shot(plain, "bad-input")


def test_schema_rollout_v1_and_v2_read_each_other():
    """v1 of the app runs; v2 starts next to it (registering ChatMessage v2 on the
    running system); each reads what the other wrote, in the API and in the page."""
    server = RunnelServer()
    old = new = driver = None
    try:
        old = Messenger(server, schema="v1")
        assert old.send("ada", "grace", "from v1").status_code == 202
        r = requests.get(f"{server.registry_url}/subjects/chat-value/versions", timeout=10)
        assert r.json() == [1]
        driver = chrome(notifications_for=old.url)
        open_page(driver, page_url(old, "grace"))
        assert inbox_texts(driver) == ["from v1"]

        new = Messenger(server, schema="v2")
        r = requests.get(f"{server.registry_url}/subjects/chat-value/versions", timeout=10)
        assert r.json() == [1, 2]
        first = old.inbox("grace")[0]
        deadline = time.monotonic() + 5
        while not new.inbox("grace") and time.monotonic() < deadline:
            time.sleep(0.1)
        # v2 reads v1's record: reply_to is the default.
        assert [(m["text"], m["reply_to"]) for m in new.inbox("grace")] == [("from v1", None)]
        # v2 writes a reply; the v1 app's page shows it (without the field it does not know).
        r = new.send("ada", "grace", "from v2, a reply", reply_to=first["id"])
        assert r.status_code == 202, r.text
        wait(driver, 2, lambda d: inbox_texts(d) == ["from v1", "from v2, a reply"], "v1 did not read v2's record")
        assert [m["reply_to"] for m in old.inbox("grace")] == [None, None]
        deadline = time.monotonic() + 5
        while len(new.inbox("grace")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [(m["text"], m["reply_to"]) for m in new.inbox("grace")] == [("from v1", None),
                                                                            ("from v2, a reply", first["id"])]
        # v1 keeps writing after the rollout; v2 reads it.
        assert old.send("ada", "grace", "v1 again").status_code == 202
        wait(driver, 2, lambda d: len(inbox_texts(d)) == 3, "v1's later record is missing")
        deadline = time.monotonic() + 5
        while len(new.inbox("grace")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [m["text"] for m in new.inbox("grace")] == ["from v1", "from v2, a reply", "v1 again"]
        # On the v2 page, the reply is shown as one.
        driver.get(page_url(new, "grace"))
        WebDriverWait(driver, 10).until(lambda d: len(inbox_texts(d)) == 3)
        assert driver.find_element(By.CSS_SELECTOR, "#inbox li:nth-child(2) .reply-of").text == "↪ ada: from v1"
        assert driver.find_element(By.ID, "version").text == "ChatMessage v2"
    finally:
        for a in (old, new):
            if a:
                a.stop()
        if driver:
            driver.quit()
        server.stop()
