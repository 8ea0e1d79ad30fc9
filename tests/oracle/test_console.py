"""The web console (``/ui`` on the HTTP port) in a real headless Chromium, driven by selenium,
against a real ``runnel serve`` whose records were written by ``runnel produce`` (the client's
raw producer, framed with the registered schema's id).

Every page visited is saved as a PNG under ``target/console-screenshots/`` (test artifacts).
Chromium and its driver come from Debian (``chromium``, ``chromium-driver``; scripts/test.sh
installs them when missing); selenium is in requirements.txt.
"""

import json
from urllib.parse import quote
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import REPO, RunnelServer

SHOTS = REPO / "target" / "console-screenshots"

ORDER = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "int"},
        {"name": "customer", "type": {"type": "record", "name": "Customer",
                                      "fields": [{"name": "name", "type": "string"}]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OPEN", "PAID", "SHIPPED"]}},
    ],
}

XSS = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">"


def order(i, note=None, customer="Ada"):
    return {"id": f"o-{i}", "amount": i, "customer": {"name": customer},
            "note": None if note is None else {"string": note}, "status": ["OPEN", "PAID", "SHIPPED"][i % 3]}


@pytest.fixture(scope="module")
def server():
    s = RunnelServer()
    tmp = tempfile.mkdtemp(prefix="runnel-console-")
    schema = Path(tmp) / "order.avsc"
    schema.write_text(json.dumps(ORDER))
    s.cli("topic", "create", "orders", "--partitions", "2", "--schema", str(schema))
    lines = [json.dumps(order(i)) for i in range(120)]
    lines.append(json.dumps(order(999, note=XSS, customer=XSS)))
    s.cli("produce", "orders", "--partition", "0", "--key-field", "id", stdin="\n".join(lines) + "\n")
    s.cli("produce", "orders", "--partition", "1", stdin=json.dumps(order(7)) + "\n")
    yield s
    s.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def follow(browser, element):
    """Clicks a link or a form's button and waits until the page it loads has replaced
    the current one, so that what the test reads next is never the old page's."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_):
        try:
            page.tag_name
            return False
        except WebDriverException:  # stale, or (Chromium) "node does not belong to the document"
            return True

    WebDriverWait(browser, 10).until(replaced)


def shot(driver, name):
    """Saves a screenshot of the whole page as SHOTS/name.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1366, max(900, min(height + 40, 4000)))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1366, 900)


def ui(server, path=""):
    return server.registry_url.rstrip("/") + "/ui" + path


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def test_overview(server, browser):
    browser.get(ui(server))
    assert "Runnel console" in browser.title
    assert text(browser, "#health .big") == "ok"
    assert text(browser, "#topic-count .big") == "1"
    assert text(browser, "#record-count .big") == "122"
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-records svg")
    time.sleep(2.2)  # two samples: a line, not "collecting samples"
    browser.get(ui(server))
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-records svg polyline")
    shot(browser, "overview")


def test_topics_list_and_describe(server, browser):
    browser.get(ui(server, "/topics"))
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-topic='orders']")
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == "orders" and cells[1] == "2" and cells[2] == "122"
    assert cells[5] == "orders-value" and cells[7] == "full"
    shot(browser, "topics")
    follow(browser, row.find_element(By.LINK_TEXT, "orders"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#partitions tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == ["121", "1"]
    shot(browser, "topic")


def test_create_and_delete_topic(server, browser):
    browser.get(ui(server, "/topics"))
    form = browser.find_element(By.ID, "create-topic")
    form.find_element(By.NAME, "name").send_keys("payments")
    form.find_element(By.NAME, "partitions").clear()
    form.find_element(By.NAME, "partitions").send_keys("3")
    Select(form.find_element(By.NAME, "validation")).select_by_value("id")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
    assert "topic payments created" in text(browser, "#notice")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#partitions tbody tr")) == 3
    assert "payments" in server.cli("topic", "list")
    # The CLI's checks: an existing name and a bad name are refused with their reasons.
    for name, reason in (("payments", "exists"), ("bad name!", "")):
        browser.get(ui(server, "/topics"))
        form = browser.find_element(By.ID, "create-topic")
        form.find_element(By.NAME, "name").send_keys(name)
        follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
        assert reason in text(browser, "#error")
    # Delete: a wrong confirmation deletes nothing; the right one deletes.
    browser.get(ui(server, "/topic?name=payments"))
    form = browser.find_element(By.ID, "delete-topic")
    form.find_element(By.NAME, "confirm").send_keys("orders")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
    assert "does not match" in text(browser, "#error")
    form = browser.find_element(By.ID, "delete-topic")
    form.find_element(By.NAME, "confirm").send_keys("payments")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
    assert "topic payments deleted" in text(browser, "#notice")
    assert "payments" not in server.cli("topic", "list")


def test_post_without_csrf_token_is_refused(server):
    s = requests.Session()
    assert s.get(ui(server)).status_code == 200  # opens a session (cookie)
    r = s.post(ui(server, "/topics/create"), data={"name": "forged"}, allow_redirects=False)
    assert r.status_code == 403
    r = s.post(ui(server, "/topics/create"), data={"name": "forged", "csrf": "0" * 64}, allow_redirects=False)
    assert r.status_code == 403
    assert "forged" not in server.cli("topic", "list")
    cookie = s.cookies.get("runnel_console")
    assert cookie
    header = s.get(ui(server)).headers.get("set-cookie")  # the session is kept: no new cookie
    assert header is None


def test_messages_decoded_newest_first_and_paged(server, browser):
    browser.get(ui(server, "/messages?topic=orders&partition=0&limit=50"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#messages tbody tr")
    offsets = [int(r.get_attribute("data-offset")) for r in rows]
    assert offsets == list(range(120, 70, -1))
    first = rows[1]  # offset 119
    value = json.loads(first.find_element(By.CSS_SELECTOR, "pre.json").text)
    assert value == order(119)
    assert first.find_element(By.CSS_SELECTOR, "td.schema a").text == "orders-value v1"
    assert first.find_element(By.CSS_SELECTOR, "td.key").text == "o-119"
    shot(browser, "messages")
    follow(browser, browser.find_element(By.ID, "older"))
    offsets = [int(r.get_attribute("data-offset")) for r in browser.find_elements(By.CSS_SELECTOR, "#messages tbody tr")]
    assert offsets == list(range(70, 20, -1))
    # From an offset, forwards.
    browser.get(ui(server, "/messages?topic=orders&partition=0&mode=offset&offset=5&limit=3"))
    offsets = [int(r.get_attribute("data-offset")) for r in browser.find_elements(By.CSS_SELECTOR, "#messages tbody tr")]
    assert offsets == [5, 6, 7]
    follow(browser, browser.find_element(By.ID, "next"))
    offsets = [int(r.get_attribute("data-offset")) for r in browser.find_elements(By.CSS_SELECTOR, "#messages tbody tr")]
    assert offsets == [8, 9, 10]


def test_messages_filters_and_download(server, browser):
    browser.get(ui(server, "/messages?topic=orders&partition=0"))
    form = browser.find_element(By.ID, "browse")
    form.find_element(By.NAME, "filter").send_keys("amount >= 117")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
    offsets = [int(r.get_attribute("data-offset")) for r in browser.find_elements(By.CSS_SELECTOR, "#messages tbody tr")]
    assert offsets == [120, 119, 118, 117]
    browser.get(ui(server, "/messages?topic=orders&partition=0&key=o-11&filter=" + quote('status == "PAID"')))
    offsets = [int(r.get_attribute("data-offset")) for r in browser.find_elements(By.CSS_SELECTOR, "#messages tbody tr")]
    assert offsets == [118, 115, 112]  # keys containing o-11 whose status is PAID (i % 3 == 1)
    # The functions' condition language: && || ! and parentheses, checked against the schema.
    cond = 'amount >= 110 && !(status == "OPEN") && customer.name == "Ada"'
    browser.get(ui(server, "/messages?topic=orders&partition=0&filter=" + quote(cond)))
    offsets = [int(r.get_attribute("data-offset")) for r in browser.find_elements(By.CSS_SELECTOR, "#messages tbody tr")]
    assert offsets == [119, 118, 116, 115, 113, 112, 110]
    browser.get(ui(server, "/messages?topic=orders&partition=0&filter=" + quote("agee > 1")))
    assert "no field `agee`" in text(browser, "#filter-error")
    browser.get(ui(server, "/messages?topic=orders&partition=0&filter=" + quote('status == "LOST"')))
    assert "LOST" in text(browser, "#filter-error")
    # Download: the cookie of the browser's session, JSON lines of the same page.
    s = requests.Session()
    s.cookies.set("runnel_console", browser.get_cookie("runnel_console")["value"])
    r = s.get(ui(server, "/messages.jsonl?topic=orders&partition=0&filter=amount+%3C+3&mode=offset&offset=0"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [(x["offset"], x["value"]["amount"], x["version"]) for x in lines] == [(0, 0, 1), (1, 1, 1), (2, 2, 1)]


def test_record_holding_markup_renders_as_text(server, browser):
    browser.get(ui(server, "/messages?topic=orders&partition=0&limit=5"))
    row = browser.find_element(By.CSS_SELECTOR, "#messages tbody tr[data-offset='120']")
    value = json.loads(row.find_element(By.CSS_SELECTOR, "pre.json").text)
    assert value["note"] == {"string": XSS} and value["customer"]["name"] == XSS
    assert browser.execute_script("return window.__xss") is None
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages img")
    assert "&lt;script&gt;" in browser.page_source
    shot(browser, "messages-xss")


# Schemas: a subject with three versions, v2 compatible (a field with a default added, one
# renamed through an alias), and a check of an incompatible candidate.
USER_V1 = {"type": "record", "name": "User", "fields": [
    {"name": "id", "type": "int"}, {"name": "mail", "type": "string"}]}
USER_V2 = {"type": "record", "name": "User", "fields": [
    {"name": "id", "type": "long"}, {"name": "email", "type": "string", "aliases": ["mail"]},
    {"name": "age", "type": "int", "default": 0}]}
USER_V3 = {"type": "record", "name": "User", "fields": [
    {"name": "id", "type": "long"}, {"name": "email", "type": "string", "aliases": ["mail"]},
    {"name": "age", "type": "int", "default": 18}]}


@pytest.fixture(scope="module")
def users_subject(server):
    for schema in (USER_V1, USER_V2, USER_V3):
        r = requests.post(f"{server.registry_url}/subjects/users-value/versions", json={"schema": json.dumps(schema)})
        assert r.status_code == 200, r.text
    return "users-value"


def test_schema_subjects_and_versions(server, browser, users_subject):
    browser.get(ui(server, "/schemas"))
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-subject='users-value']")
    assert row.find_elements(By.TAG_NAME, "td")[1].text == "3"
    assert browser.find_element(By.CSS_SELECTOR, "tr[data-subject='orders-value']")
    shot(browser, "schemas")
    follow(browser, row.find_element(By.LINK_TEXT, "users-value"))
    assert text(browser, "#version-count") == "3"
    assert [r.get_attribute("data-version") for r in browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr")] == ["3", "2", "1"]
    assert '"default": 18' in text(browser, "#schema-text")
    shot(browser, "subject")


def test_schema_semantic_diff(server, browser, users_subject):
    browser.get(ui(server, "/schemas/diff?name=users-value&a=1&b=2"))
    changes = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in browser.find_elements(By.CSS_SELECTOR, "#changes tr.change")]
    kinds = {(c[0], c[1]): c[3] for c in changes}
    assert kinds[("User.id", "retyped")].startswith("compatible")
    assert kinds[("User.email", "renamed")].startswith("compatible")
    assert kinds[("User.age", "added")].startswith("compatible")
    assert text(browser, "#level") == "BACKWARD"
    assert browser.find_elements(By.CSS_SELECTOR, "#text-diff .add")
    shot(browser, "schema-diff")
    browser.get(ui(server, "/schemas/diff?name=users-value&a=2&b=3"))
    changes = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in browser.find_elements(By.CSS_SELECTOR, "#changes tr.change")]
    assert changes == [["User.age", "default changed", "0 → 18", "compatible"]]
    # Under FULL, v1 → v2's retyping breaks: v1 (an int) cannot read v2's longs.
    browser.get(ui(server, "/schemas/subject?name=users-value"))
    form = browser.find_element(By.ID, "level")
    Select(form.find_element(By.NAME, "level")).select_by_value("FULL")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
    assert "set to FULL" in text(browser, "#notice")
    browser.get(ui(server, "/schemas/diff?name=users-value&a=1&b=2"))
    rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[3].text
            for r in browser.find_elements(By.CSS_SELECTOR, "#changes tr.change")}
    assert rows["User.id"].startswith("breaking") and "/fields/0/type" in rows["User.id"]
    requests.put(f"{server.registry_url}/config/users-value", json={"compatibility": "BACKWARD"})


def test_schema_check_lists_reasons_with_paths(server, browser, users_subject):
    browser.get(ui(server, "/schemas/subject?name=users-value"))
    bad = {"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "int"}, {"name": "email", "type": "string"}, {"name": "nick", "type": "string"}]}
    form = browser.find_element(By.ID, "check")
    form.find_element(By.NAME, "schema").send_keys(json.dumps(bad))
    follow(browser, form.find_element(By.CSS_SELECTOR, "button[value='register']"))
    assert "incompatibilit" in text(browser, "#check-error")
    reasons = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in browser.find_elements(By.CSS_SELECTOR, "#reasons tbody tr")]
    paths = {r[0] for r in reasons}
    assert "/fields/0/type" in paths and "/fields/2" in paths, reasons
    assert not browser.find_elements(By.ID, "registered")
    shot(browser, "schema-check")
    assert requests.get(f"{server.registry_url}/subjects/users-value/versions").json() == [1, 2, 3]
    # A compatible candidate registers as v4.
    good = dict(USER_V3, fields=USER_V3["fields"] + [{"name": "nick", "type": ["null", "string"], "default": None}])
    form = browser.find_element(By.ID, "check")
    form.find_element(By.NAME, "schema").clear()
    form.find_element(By.NAME, "schema").send_keys(json.dumps(good))
    follow(browser, form.find_element(By.CSS_SELECTOR, "button[value='register']"))
    assert "v4" in text(browser, "#registered")


# Produce through the form generated from a schema with logical types, unions and defaults.
EVENT = {"type": "record", "name": "Event", "namespace": "ev", "fields": [
    {"name": "name", "type": "string", "default": "signup"},
    {"name": "count", "type": "int", "default": 1},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}, "default": "B"},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "ref", "type": ["null", "string", "long"], "default": None},
]}


def test_produce_form(server, browser):
    tmp = tempfile.mkdtemp(prefix="runnel-console-")
    (Path(tmp) / "event.avsc").write_text(json.dumps(EVENT))
    server.cli("topic", "create", "events", "--schema", str(Path(tmp) / "event.avsc"))
    shutil.rmtree(tmp, ignore_errors=True)
    browser.get(ui(server, "/produce?topic=events"))
    form = browser.find_element(By.ID, "produce")
    # Defaults filled, enum as a dropdown, logical types as date and time inputs.
    assert form.find_element(By.NAME, "/name").get_attribute("value") == "signup"
    assert form.find_element(By.NAME, "/count").get_attribute("value") == "1"
    assert Select(form.find_element(By.NAME, "/kind")).first_selected_option.text == "B"
    assert form.find_element(By.NAME, "/day").get_attribute("type") == "date"
    assert form.find_element(By.NAME, "/at").get_attribute("type") == "datetime-local"
    assert Select(form.find_element(By.NAME, "/ref#")).first_selected_option.text == "null"
    # The branch inputs of the unpicked branches are hidden by the script.
    assert not form.find_element(By.NAME, "/ref|string").is_displayed()
    shot(browser, "produce")
    # A bad value: its field's error beside it, nothing produced.
    form.find_element(By.NAME, "/count").clear()
    form.find_element(By.NAME, "/count").send_keys("many")
    browser.execute_script("document.getElementsByName('/day')[0].value = '2026-12-04'")
    browser.execute_script("document.getElementsByName('/at')[0].value = '2026-12-04T15:30:00.250'")
    form.find_element(By.NAME, "/price").send_keys("12.34")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button[type='submit']"))
    error = browser.find_element(By.CSS_SELECTOR, "[data-error-for='/count']")
    assert "int" in error.text, error.text
    shot(browser, "produce-error")
    assert "events" in server.cli("topic", "describe", "events")
    # Fixed, with a union branch picked: produced, and shown decoded in the browser.
    form = browser.find_element(By.ID, "produce")
    form.find_element(By.NAME, "/count").clear()
    form.find_element(By.NAME, "/count").send_keys("42")
    Select(form.find_element(By.NAME, "/ref#")).select_by_value("string")
    form.find_element(By.NAME, "/ref|string").send_keys("<b>ref</b>")
    form.find_element(By.NAME, "key").send_keys("k1")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button[type='submit']"))
    assert "produced to partition 0 at offset 0" in text(browser, "#notice")
    value = json.loads(browser.find_element(By.CSS_SELECTOR, "#messages tr[data-offset='0'] pre.json").text)
    assert value["count"] == 42 and value["kind"] == "B" and value["ref"] == {"string": "<b>ref</b>"}
    assert value["day"] == 20791 and value["at"] == 1796398200250
    assert value["price"] == "\u0004\u00d2"
    shot(browser, "produced")
    # The typed path agrees: the CLI consumer decodes the same record.
    out = server.cli("consume", "events", "--exit-at-end")
    assert json.loads(out.splitlines()[0])["value"]["count"] == 42


def test_groups_lag_falls_and_reset(server, browser):
    out = server.cli("consume", "orders", "--group", "billing", "--max", "100")
    browser.get(ui(server, "/groups"))
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-group='billing']")
    assert row.find_elements(By.TAG_NAME, "td")[3].text == "22"  # 122 records, 100 consumed
    follow(browser, row.find_element(By.LINK_TEXT, "billing"))
    lags = [r.find_element(By.CSS_SELECTOR, "td.lag").text for r in browser.find_elements(By.CSS_SELECTOR, "section.topic-lag tr[data-partition]")]
    assert len(lags) == 2 and sum(int(x) for x in lags) == 22
    time.sleep(2.2)
    server.cli("consume", "orders", "--group", "billing", "--exit-at-end")
    time.sleep(2.2)
    browser.get(ui(server, "/group?name=billing"))
    assert text(browser, "section.topic-lag .total-lag") == "0"
    assert browser.find_elements(By.CSS_SELECTOR, "section.topic-lag svg polyline")
    shot(browser, "group")
    form = browser.find_element(By.CSS_SELECTOR, "form.reset")
    Select(form.find_element(By.NAME, "to")).select_by_value("earliest")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
    assert "reset to earliest: 0:0, 1:0" in text(browser, "#notice")
    assert text(browser, "section.topic-lag .total-lag") == "122"
    assert out


def test_tenants(server, browser):
    server.cli("tenant", "create", "acme", "--max-topics", "5", "--storage-bytes", "1000000")
    server.cli("namespace", "create", "acme/prod", "--partitions", "3")
    browser.get(ui(server, "/tenants"))
    acme = browser.find_element(By.CSS_SELECTOR, "section[data-tenant='acme']")
    assert acme.find_element(By.CSS_SELECTOR, ".topics-used").text == "0 of 5"
    assert "of 976.6 KiB" in acme.find_element(By.CSS_SELECTOR, ".storage-used").text
    ns = acme.find_element(By.CSS_SELECTOR, "tr[data-namespace='acme/prod']")
    assert ns.find_elements(By.TAG_NAME, "td")[2].text == "3"
    shot(browser, "tenants")


def test_functions(server, browser):
    schema = Path(tempfile.mkdtemp(prefix="runnel-console-")) / "order.avsc"
    schema.write_text(json.dumps(ORDER))
    server.cli("topic", "create", "big-orders", "--schema", str(schema))
    server.cli("function", "create", "big", "--builtin", "filter", "--input", "orders",
               "--output", "big-orders", "--where", "amount >= 100")
    deadline = time.time() + 30
    while True:
        browser.get(ui(server, "/functions"))
        section = browser.find_element(By.CSS_SELECTOR, "section[data-function='big']")
        if section.find_element(By.CSS_SELECTOR, ".lag").text == "0" or time.time() > deadline:
            break
        time.sleep(0.5)
    assert section.find_element(By.CSS_SELECTOR, ".kind").text == "filter"
    assert section.find_element(By.CSS_SELECTOR, ".definition").text == "where amount >= 100 to big-orders"
    assert section.find_element(By.CSS_SELECTOR, ".instances").text == "1"
    assert section.find_element(By.CSS_SELECTOR, ".processed").text == "122"
    assert section.find_element(By.CSS_SELECTOR, ".lag").text == "0"
    assert section.find_elements(By.CSS_SELECTOR, "svg"), "a chart of records per second"
    shot(browser, "functions")


def test_queue_subscriptions(server, browser):
    server.cli("consume", "orders", "--subscription", "workers", "--subscription-type", "shared",
               "--from", "earliest", "--max", "5")
    browser.get(ui(server, "/groups"))
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-subscription='orders/workers']")
    unacked = int(row.find_element(By.CSS_SELECTOR, ".unacked").text)
    assert 100 <= unacked <= 117, unacked  # 122 records, 5 of them acknowledged
    assert row.find_element(By.CSS_SELECTOR, ".kind").text == "no consumers"
    shot(browser, "subscriptions")


def test_replication(browser):
    east, west = RunnelServer("--cluster", "east"), RunnelServer("--cluster", "west")
    try:
        for here, name, there in [(east, "west", west), (west, "east", east)]:
            here.cli("cluster", "add", name, "--url", there.grpc_url, "--registry-url", there.registry_url)
            here.cli("namespace", "replication", "public/default", "--clusters", "east,west")
        schema = Path(tempfile.mkdtemp(prefix="runnel-console-")) / "order.avsc"
        schema.write_text(json.dumps(ORDER))
        east.cli("topic", "create", "events", "--partitions", "2", "--schema", str(schema))
        east.cli("produce", "events", "--key-field", "id", stdin="".join(json.dumps(order(i)) + "\n" for i in range(5)))
        deadline = time.time() + 30
        while True:
            browser.get(ui(east, "/replication"))
            rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-link='events>west']")
            if rows and rows[0].find_element(By.CSS_SELECTOR, ".replicated").text == "5" or time.time() > deadline:
                break
            time.sleep(0.5)
        assert text(browser, "#local-cluster") == "east"
        assert browser.find_elements(By.CSS_SELECTOR, "tr[data-cluster='west']")
        assert "east, west" in browser.find_element(By.CSS_SELECTOR, "tr[data-namespace='public/default']").text
        row = browser.find_element(By.CSS_SELECTOR, "tr[data-link='events>west']")
        assert row.find_element(By.CSS_SELECTOR, ".state").text == "running"
        assert row.find_element(By.CSS_SELECTOR, ".replicated").text == "5"
        assert row.find_element(By.CSS_SELECTOR, ".lag").text == "0"
        shot(browser, "replication")
    finally:
        east.stop()
        west.stop()


def test_kafka_group_members(browser):
    """A confluent-kafka consumer in a group shows as a member with its decoded assignment,
    and the group cannot be reset while it is live."""
    from confluent_kafka import Consumer

    server = RunnelServer(kafka=True)
    consumer = None
    try:
        schema = Path(tempfile.mkdtemp(prefix="runnel-console-")) / "order.avsc"
        schema.write_text(json.dumps(ORDER))
        server.cli("topic", "create", "payments", "--partitions", "2", "--schema", str(schema))
        server.cli("produce", "payments", "--key-field", "id", stdin="".join(json.dumps(order(i)) + "\n" for i in range(4)))
        consumer = Consumer({"bootstrap.servers": server.kafka, "group.id": "ledger", "client.id": "ledger-1",
                             "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
        consumer.subscribe(["payments"])
        deadline = time.time() + 30
        while not consumer.assignment() and time.time() < deadline:
            consumer.poll(0.2)
        assert consumer.assignment(), "the consumer joined and was assigned"
        browser.get(ui(server, "/groups"))
        row = browser.find_element(By.CSS_SELECTOR, "tr[data-group='ledger']")
        assert row.find_elements(By.TAG_NAME, "td")[2].text == "1"
        follow(browser, row.find_element(By.LINK_TEXT, "ledger"))
        member = browser.find_element(By.CSS_SELECTOR, "#members tr.member[data-via='Kafka']")
        cells = [td.text for td in member.find_elements(By.TAG_NAME, "td")]
        assert cells[1:] == ["ledger-1", "Kafka", "payments", "0, 1"], cells
        owners = {td.text for td in browser.find_elements(By.CSS_SELECTOR, "section.topic-lag tr[data-partition] td:last-child")}
        assert owners == {cells[0]}, owners
        shot(browser, "kafka-group")
        form = browser.find_element(By.CSS_SELECTOR, "form.reset")
        Select(form.find_element(By.NAME, "to")).select_by_value("earliest")
        follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
        assert "has live members on payments" in text(browser, "#error")
    finally:
        if consumer is not None:
            consumer.close()
        server.stop()
