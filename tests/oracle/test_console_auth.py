"""The web console with authentication on, in headless Chromium (see test_console.py): the
console asks for a token, keeps it server-side behind an HttpOnly SameSite=Strict session
cookie, shows only what the token may see, and refuses forged POSTs.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from conftest import RunnelServer, runnel_bin
from test_console import browser, follow, shot  # noqa: F401  (the browser fixture)

SECRET = "an HS256 secret for the console's auth test, 32+ bytes"


def make_token(secret_file, subject, *roles):
    grants = [arg for role in roles for arg in ("--role", role)]
    out = subprocess.run([runnel_bin(), "token", "create", "--subject", subject, *grants, "--expires", "10m",
                          "--secret-file", str(secret_file)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture(scope="module")
def secured():
    tmp = Path(tempfile.mkdtemp(prefix="runnel-console-auth-"))
    secret = tmp / "secret"
    secret.write_text(SECRET)
    server = RunnelServer("--auth-secret-file", str(secret))
    root = make_token(secret, "root", "superuser")
    alice = make_token(secret, "alice", "admin:acme", "consume:acme/*/*", "produce:acme/*/*", "schema-read:acme")
    server.cli("--token", root, "tenant", "create", "acme")
    server.cli("--token", root, "namespace", "create", "acme/default")
    server.cli("--token", root, "topic", "create", "acme/default/orders", "--validation", "none")
    server.cli("--token", root, "topic", "create", "payroll", "--validation", "none")
    yield server, root, alice
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def ui(server, path=""):
    return server.registry_url.rstrip("/") + "/ui" + path


def login(browser, server, token):
    browser.delete_all_cookies()
    browser.get(ui(server))
    assert browser.current_url.endswith("/ui/login")
    browser.find_element(By.NAME, "token").send_keys(token)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form button"))


def test_login_required_and_bad_token_refused(secured, browser):
    server, _, _ = secured
    browser.delete_all_cookies()
    browser.get(ui(server, "/topics"))
    assert browser.current_url.endswith("/ui/login")
    shot(browser, "login")
    login(browser, server, "not-a-token")
    assert "invalid token" in browser.find_element(By.ID, "error").text
    # Without a session nothing is shown, whatever the page.
    r = requests.get(ui(server, "/messages?topic=payroll"), allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"


def test_session_shows_only_what_the_token_may_see(secured, browser):
    server, _, alice = secured
    login(browser, server, alice)
    assert browser.find_element(By.CSS_SELECTOR, ".who").text == "alice"
    browser.get(ui(server, "/topics"))
    topics = [r.get_attribute("data-topic") for r in browser.find_elements(By.CSS_SELECTOR, "#topics tbody tr[data-topic]")]
    assert topics == ["acme/default/orders"]
    shot(browser, "topics-as-tenant")
    browser.get(ui(server, "/topic?name=payroll"))
    assert "permission denied" in browser.find_element(By.ID, "error").text
    browser.get(ui(server, "/messages?topic=payroll"))
    assert "permission denied" in browser.find_element(By.ID, "error").text
    # Creating outside the token's tenant: refused with the CLI's reason.
    browser.get(ui(server, "/topics"))
    form = browser.find_element(By.ID, "create-topic")
    form.find_element(By.NAME, "name").send_keys("public/default/stolen")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
    assert "permission denied" in browser.find_element(By.ID, "error").text
    browser.get(ui(server, "/tenants"))
    assert [s.get_attribute("data-tenant") for s in browser.find_elements(By.CSS_SELECTOR, "section.tenant")] == ["acme"]
    # Inside it: allowed.
    browser.get(ui(server, "/topics"))
    form = browser.find_element(By.ID, "create-topic")
    form.find_element(By.NAME, "name").send_keys("acme/default/fresh")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button"))
    assert "created" in browser.find_element(By.ID, "notice").text


def test_cookie_flags_csrf_and_logout(secured, browser):
    server, root, _ = secured
    s = requests.Session()
    r = s.post(ui(server, "/login"), data={"token": root}, allow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    # A POST with the session cookie but without the form's token is refused.
    r = s.post(ui(server, "/topics/create"), data={"name": "forged"}, allow_redirects=False)
    assert r.status_code == 403
    r = s.post(ui(server, "/topics/create"), data={"name": "forged"}, headers={"Origin": server.registry_url},
               allow_redirects=False)
    assert r.status_code == 403  # a matching Origin is not trusted in place of the token
    assert "forged" not in server.cli("--token", root, "topic", "list")
    # Logout (a POST with the token) ends the session.
    login(browser, server, root)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.logout button"))
    assert browser.current_url.endswith("/ui/login")
    browser.get(ui(server, "/topics"))
    assert browser.current_url.endswith("/ui/login")
