"""The web console in a real browser: Debian's Chromium, headless, driven through WebDriver
(chromedriver) along the operator's and an account's main flows. Each step is checked on the
page and, for changes, through the vendor's SDK. With KMSD_SCREENSHOTS set to a directory the
pages are saved there (docs/console/ holds the ones the docs show)."""

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import SECRET_ID, SECRET_KEY, KmsdProcess, call, create_key


def api(client, action, **params):
    """The SDK's answer as a dict."""
    return json.loads(call(client, action, **params).to_json_string())


def new_key(client, **params):
    return create_key(client, **params).KeyId


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium and chromium-driver are not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    audit_path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    proc = KmsdProcess(extra_args=["--audit-log", str(audit_path)]).start()
    yield proc
    proc.cleanup()


def new_browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1440,1000",
                f"--user-data-dir={tmp_path / ('chromium-' + uuid.uuid4().hex[:6])}"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser(tmp_path):
    driver = new_browser(tmp_path)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path):
    directory = Path(os.environ.get("KMSD_SCREENSHOTS") or tmp_path / "shots")
    directory.mkdir(parents=True, exist_ok=True)

    def shot(driver, name):
        # The whole page, not only the window.
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1440, max(700, min(height, 2400)))
        path = directory / f"{name}.png"
        assert driver.save_screenshot(str(path))
        assert path.stat().st_size > 10_000
        driver.set_window_size(1440, 1000)
    shot.directory = directory
    return shot


def flash(driver):
    return driver.find_element(By.CSS_SELECTOR, ".flash").text


def go(element):
    """Clicks what leads to another page, and waits until that page has replaced this one."""
    driver = element.parent
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 10).until(lambda _: gone(page))


def gone(page):
    """Whether the old page's root has left the document. Chromium's driver says so either as a
    stale reference or, caught mid-navigation, as an inspector error about a node no longer in
    the document."""
    try:
        page.is_enabled()
        return False
    except WebDriverException:
        return True


def submit(form):
    go(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def no_policy_violations(driver):
    """What the browser logged: nothing the Content-Security-Policy refused, no failed load."""
    logs = driver.get_log("browser")
    bad = [entry for entry in logs if entry["level"] == "SEVERE"
           or "Content Security Policy" in entry["message"]]
    assert not bad, bad


def login_operator(driver, proc):
    driver.get(proc.url + "/console/login")
    form = driver.find_element(By.ID, "operator-login")
    form.find_element(By.NAME, "token").send_keys((proc.data_dir / "admin-token").read_text().strip())
    submit(form)
    arrive(driver, "/console/keys")


def arrive(driver, path):
    """Waits for the navigation a click began to land on `path`."""
    WebDriverWait(driver, 10).until(lambda d: d.current_url.split("?")[0].endswith(path))


def test_the_operator_manages_keys_accounts_and_reads_the_audit(audited, browser, shots):
    kms = audited.client()
    ids = [new_key(kms, Alias=f"payments-{i}", Description=f"service {i}") for i in range(3)]
    new_key(kms, Alias="archive-signing", KeyUsage="ASYMMETRIC_SIGN_VERIFY_ECC")
    api(kms, "DisableKey", KeyId=ids[2])
    api(kms, "GenerateDataKey", KeyId=ids[0], KeySpec="AES_256", IsHostedByKms=1,
         DataKeyName="orders-dek")

    browser.get(audited.url + "/console/login")
    shots(browser, "login")
    # The stylesheet applies under the policy: the header is dark, not the default white.
    login_operator(browser, audited)
    header = browser.find_element(By.TAG_NAME, "header")
    assert header.value_of_css_property("background-color") == "rgba(20, 32, 46, 1)"
    rows = browser.find_elements(By.CSS_SELECTOR, "#keys tbody tr")
    assert len(rows) == 4
    assert "Disabled" in browser.find_element(By.ID, "keys").text
    shots(browser, "keys")

    # Filter to the disabled keys.
    Select(browser.find_element(By.NAME, "state")).select_by_visible_text("Disabled")
    submit(browser.find_element(By.CSS_SELECTOR, "form.filters"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#keys tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == [ids[2]]

    # The Huawei view of the same keys.
    go(browser.find_element(By.LINK_TEXT, "Huawei (list-keys)"))
    WebDriverWait(browser, 10).until(lambda d: "key_state" in d.find_element(By.ID, "keys").text)
    listed = browser.find_element(By.ID, "keys").text
    assert all(key_id in listed for key_id in ids)

    # A key's page: disable it, then tag it.
    browser.get(audited.url + "/console/keys")
    go(browser.find_element(By.LINK_TEXT, ids[0]))
    assert "Huawei view" in browser.page_source
    go(browser.find_element(By.XPATH, "//button[text()='Disable']"))
    assert flash(browser) == "Key disabled."
    assert api(kms, "DescribeKey", KeyId=ids[0])["KeyMetadata"]["KeyState"] == "Disabled"
    tag_form = browser.find_element(By.XPATH, "//form[contains(@action, '/tag-add')]")
    tag_form.find_element(By.NAME, "key").send_keys("team")
    tag_form.find_element(By.NAME, "value").send_keys("payments")
    submit(tag_form)
    assert flash(browser) == "Tag added."
    assert "payments" in browser.find_element(By.ID, "tags").text
    shots(browser, "key")

    go(browser.find_element(By.LINK_TEXT, "Data keys"))
    assert "orders-dek" in browser.find_element(By.ID, "data-keys").text
    shots(browser, "data-keys")

    # A new account: its credential is shown once.
    go(browser.find_element(By.LINK_TEXT, "Accounts"))
    before = len(browser.find_elements(By.CSS_SELECTOR, "#accounts tbody tr"))
    go(browser.find_element(By.XPATH, "//button[text()='Create account']"))
    secret = browser.find_element(By.ID, "new-secret").text
    assert "shown this once" in secret
    shots(browser, "account-created")
    go(browser.find_element(By.LINK_TEXT, "Done"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#accounts tbody tr")) == before + 1
    assert "shown this once" not in browser.page_source
    shots(browser, "accounts")

    # A policy, written in the textarea and validated.
    go(browser.find_element(By.LINK_TEXT, "Users & policies"))
    form = browser.find_element(By.ID, "create-policy")
    form.find_element(By.NAME, "name").send_keys("readers")
    form.find_element(By.NAME, "document").send_keys(
        '{"version":"2.0","statement":[{"effect":"allow","action":["kms:Describe*","kms:List*"],'
        '"resource":"*"}]}')
    submit(form)
    assert flash(browser) == "Policy readers created."
    form = browser.find_element(By.ID, "create-user")
    form.find_element(By.NAME, "name").send_keys("auditor")
    submit(form)
    assert flash(browser) == "User auditor created."
    shots(browser, "identity")

    # The audit trail: the console's own change is there, by the operator.
    go(browser.find_element(By.LINK_TEXT, "Audit trail"))
    form = browser.find_element(By.ID, "audit-search")
    form.find_element(By.NAME, "action").send_keys("DisableKey")
    submit(form)
    table = browser.find_element(By.ID, "audit").text
    assert "console DisableKey ok" in table and "operator-token" in table and ids[0] in table
    assert "tencent DisableKey ok" in table
    shots(browser, "audit")

    go(browser.find_element(By.LINK_TEXT, "Health"))
    assert "unsealed" in browser.find_element(By.ID, "health").text
    bars = browser.find_elements(By.CSS_SELECTOR, "#requests-chart rect")
    assert len(bars) > 3
    # The charts alone: the cards above them name this run's temporary paths.
    chart = browser.find_element(By.ID, "requests-chart")
    assert chart.screenshot(str(shots.directory / "health-requests.png"))
    latency = browser.find_element(By.ID, "latency-chart")
    assert latency.screenshot(str(shots.directory / "health-latency.png"))
    no_policy_violations(browser)

    go(browser.find_element(By.XPATH, "//button[text()='Log out']"))
    assert browser.current_url.endswith("/console/login")
    browser.get(audited.url + "/console/keys")
    assert browser.current_url.endswith("/console/login")


def test_an_account_logs_in_with_its_credential(audited, browser):
    kms = audited.client()
    key_id = new_key(kms, Alias="account-view")
    browser.get(audited.url + "/console/login")
    form = browser.find_element(By.ID, "credential-login")
    form.find_element(By.NAME, "secret_id").send_keys(SECRET_ID)
    form.find_element(By.NAME, "secret_key").send_keys(SECRET_KEY)
    submit(form)
    assert browser.current_url.endswith("/console/keys")
    nav = browser.find_element(By.TAG_NAME, "nav").text
    assert "Accounts" not in nav and "Health" not in nav and "Users & policies" in nav
    go(browser.find_element(By.LINK_TEXT, key_id))
    go(browser.find_element(By.XPATH, "//button[text()='Turn automatic rotation on']"))
    assert flash(browser) == "Automatic rotation is on."
    assert api(kms, "GetKeyRotationStatus", KeyId=key_id)["KeyRotationEnabled"] is True
    no_policy_violations(browser)
