"""Nocas web console, driven in headless Chromium (Debian's package) by
Playwright for Python, side by side with the official Python SDK
(nacos-sdk-python 3.x, gRPC) acting as the applications.

Env:
  NOCAS_ADDR            host:httpPort of a server started with --auth
  NOCAS_ADMIN_PASSWORD  password of the administrator `nacos`
  NOCAS_CHROMIUM        browser binary (default /usr/bin/chromium)
  NOCAS_SHOTS           when set, a directory to save a screenshot of every page in
  NOCAS_TOTAL_TIMEOUT   watchdog in seconds (default 240) -> exit 2
Exit: 0 all passed, 1 some failed, 2 watchdog. Prints RESULT: PASS|FAIL.
"""
import asyncio
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import warnings
import zipfile

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
warnings.simplefilter("ignore")
logging.getLogger().handlers[:] = [logging.NullHandler()]
logging.getLogger().setLevel(logging.CRITICAL + 1)

from playwright.async_api import async_playwright, expect  # noqa: E402
from v2.nacos import (ClientConfigBuilder, ConfigParam, GRPCConfig, NacosConfigService,  # noqa: E402
                      NacosNamingService, RegisterInstanceParam, SubscribeServiceParam)

ADDR = os.environ.get("NOCAS_ADDR", "127.0.0.1:8848")
BASE = f"http://{ADDR}"
ADMIN_PW = os.environ.get("NOCAS_ADMIN_PASSWORD", "nacos")
CHROMIUM = os.environ.get("NOCAS_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("NOCAS_SHOTS", "")
TOTAL_TIMEOUT = float(os.environ.get("NOCAS_TOTAL_TIMEOUT", "240"))
WAIT = 15_000  # ms, for UI conditions
TMP = tempfile.mkdtemp(prefix="nocas-console-")
NS = "team-dev"
RESULTS = []
PAGE = []  # the page, for debugging output
ERRORS = []  # console errors and page errors, with the page they happened on
# The one call the test provokes on purpose to see the refusal explained.
EXPECTED_ERRORS = [re.compile(r"status of 403")]


def out(line):
    print(line, flush=True)


def record(name, ok, detail=""):
    RESULTS.append((name, ok))
    out(f"{'PASS' if ok else 'FAIL'}: {name}" + (f" -- {detail}" if detail else ""))


class Step:
    def __init__(self, name):
        self.name, self.detail = name, ""

    async def __aenter__(self):
        return self

    async def __aexit__(self, et, ev, tb):
        if et is None:
            record(self.name, True, self.detail)
        else:
            if os.environ.get("NOCAS_DEBUG"):
                traceback.print_exception(et, ev, tb)
                if PAGE:
                    out("URL: " + PAGE[0].url)
            record(self.name, False, f"{et.__name__}: {str(ev)[:600]}")
        return True


def watchdog():
    def fire():
        out(f"WATCHDOG: {TOTAL_TIMEOUT:.0f}s exceeded")
        out("RESULT: FAIL")
        os._exit(2)
    t = threading.Timer(TOTAL_TIMEOUT, fire)
    t.daemon = True
    t.start()


def sdk_config(name):
    return (ClientConfigBuilder().username("nacos").password(ADMIN_PW).server_address(ADDR)
            .namespace_id("").log_level(logging.WARNING).log_dir(os.path.join(TMP, "logs", name))
            .cache_dir(os.path.join(TMP, "cache", name)).load_cache_at_start(False)
            .grpc_config(GRPCConfig(grpc_timeout=3000)).build())


async def poll(fn, pred, timeout=15.0, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await fn()
        if pred(last):
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last={last!r}")


async def shot(page, name):
    if SHOTS:
        await page.wait_for_timeout(300)
        await page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


async def go(page, route):
    await page.goto(f"{BASE}/nacos/#{route}")
    # The console marks the address it has finished drawing.
    await page.wait_for_function("h => document.body.dataset.rendered === h", arg=f"#{route}")


# Controls without a visible label, actions without visible text.
AUDIT_JS = """() => {
  const bad = [];
  for (const c of document.querySelectorAll('input, select, textarea')) {
    if (c.type === 'hidden') continue;
    const labelled = c.labels && [...c.labels].some((l) => l.textContent.trim());
    if (!labelled && !c.getAttribute('aria-label')) bad.push(c.outerHTML.slice(0, 100));
  }
  for (const b of document.querySelectorAll('button, a[href]')) {
    if (!b.textContent.trim()) bad.push(b.outerHTML.slice(0, 100));
  }
  return bad;
}"""
AUDITED = []


async def audit(page):
    bad = await page.evaluate(AUDIT_JS)
    assert not bad, f"{page.url}: {bad}"
    AUDITED.append(page.url)


async def fill_editor(page, text):
    area = page.locator("#editor-content")
    await area.fill(text)


async def main():
    watchdog()
    # Conditions get the same generous deadline as actions (CI machines are
    # slow and shared); a passing run never waits for it.
    expect.set_options(timeout=WAIT)
    config = naming_a = naming_b = None
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        ctx = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
        page = await ctx.new_page()
        page.set_default_timeout(WAIT)
        PAGE.append(page)
        page.on("console", lambda m: ERRORS.append((page.url, m.text)) if m.type == "error" else None)
        page.on("pageerror", lambda e: ERRORS.append((page.url, f"page error: {e}")))

        async def login(user, password):
            await go(page, "/login")
            await page.get_by_label("User name").fill(user)
            await page.get_by_label("Password").fill(password)
            await page.get_by_role("button", name="Log in").click()

        async with Step("headers: CSP without inline script or eval, no framing, no sniffing") as s:
            resp = await page.request.get(f"{BASE}/nacos/")
            hd = resp.headers
            csp = hd.get("content-security-policy", "")
            assert "script-src 'self'" in csp and "unsafe" not in csp, csp
            assert hd.get("x-frame-options") == "DENY", hd
            assert hd.get("x-content-type-options") == "nosniff", hd
            s.detail = csp

        async with Step("login: a wrong password is refused and says so") as s:
            await login("nacos", "wrong-password")
            await expect(page.get_by_role("alert")).to_contain_text("Login failed")
            await shot(page, "login")

        async with Step("login: the right password opens the overview") as s:
            await login("nacos", ADMIN_PW)
            await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
            await expect(page.get_by_role("cell", name="Leader")).to_be_visible()
            await page.wait_for_timeout(4500)  # two samples for the live charts
            await audit(page)
            await shot(page, "overview")

        async with Step("namespace: create in the UI and switch to it") as s:
            await go(page, "/namespaces")
            await page.get_by_role("button", name="Create namespace").click()
            await page.get_by_label("ID (empty: generated)").fill(NS)
            await page.get_by_label("Name", exact=True).fill("Team Dev")
            await page.get_by_label("Description").fill("the team's sandbox")
            await page.get_by_role("button", name="Create", exact=True).click()
            await expect(page.get_by_role("cell", name=NS, exact=True)).to_be_visible()
            await audit(page)
            await shot(page, "namespaces")
            await page.get_by_label("Namespace", exact=True).select_option(NS)
            await expect(page).to_have_url(re.compile(rf"ns={NS}"))
            await go(page, f"/configs?ns={NS}")
            await expect(page.get_by_label("Namespace", exact=True)).to_have_value(NS)
            await go(page, "/configs?ns=public")

        config = await NacosConfigService.create_config_service(sdk_config("config"))

        async with Step("config: invalid JSON is shown and not published unless insisted") as s:
            await go(page, "/config/edit?ns=public")
            await page.get_by_label("Data ID").fill("ui.json")
            await page.get_by_label("Type").select_option("json")
            await fill_editor(page, '{"a": }')
            await expect(page.locator("#editor-status")).to_contain_text("Invalid json: line 1")
            await page.get_by_role("button", name="Publish", exact=True).click()
            await expect(page.get_by_role("dialog")).to_contain_text("Publish anyway?")
            await page.get_by_role("button", name="Cancel").click()
            got = await config.get_config(ConfigParam(data_id="ui.json", group="DEFAULT_GROUP"))
            assert not got, f"published anyway: {got!r}"

        async with Step("config: created in the UI, read by the SDK") as s:
            await fill_editor(page, '{"a": 1}')
            await expect(page.locator("#editor-status")).to_contain_text("Valid json")
            await page.get_by_label("Description").fill("made in the console")
            await audit(page)
            await shot(page, "config-edit")
            await page.get_by_role("button", name="Publish", exact=True).click()
            await expect(page.get_by_role("heading", name="ui.json")).to_be_visible()
            got = await poll(lambda: config.get_config(ConfigParam(data_id="ui.json", group="DEFAULT_GROUP")),
                             lambda c: c == '{"a": 1}')
            s.detail = f"SDK read {got!r}"

        async with Step("config: edit, history, diff against the current version, roll back") as s:
            await page.get_by_role("link", name="Edit", exact=True).click()
            await fill_editor(page, '{"a": 2,\n "b": true}')
            await expect(page.locator("#editor-status")).to_contain_text("Valid json")
            await page.get_by_role("button", name="Publish", exact=True).click()
            await expect(page.get_by_role("heading", name="ui.json")).to_be_visible()
            await poll(lambda: config.get_config(ConfigParam(data_id="ui.json", group="DEFAULT_GROUP")),
                       lambda c: c == '{"a": 2,\n "b": true}')
            await audit(page)
            await shot(page, "config-detail")
            await page.get_by_role("link", name="History").first.click()
            await expect(page.get_by_role("heading", name=re.compile("History of ui.json"))).to_be_visible()
            await audit(page)
            await shot(page, "config-history")
            # The oldest entry holds the first version.
            rows = page.locator("tbody tr")
            await expect(rows).to_have_count(2)
            await rows.last.get_by_role("link", name="Compare with current").click()
            await expect(page.locator("table.diff tr.changed")).to_have_count(1)
            await expect(page.locator("table.diff tr.added")).to_have_count(1)
            await shot(page, "config-diff")
            await page.get_by_role("link", name="Back to history").click()
            await page.locator("tbody tr").last.get_by_role("button", name="Roll back").click()
            await expect(page.get_by_role("dialog")).to_contain_text("Roll back ui.json")
            await page.get_by_role("dialog").get_by_role("button", name="Roll back").click()
            await expect(page.get_by_role("heading", name="ui.json")).to_be_visible()
            await poll(lambda: config.get_config(ConfigParam(data_id="ui.json", group="DEFAULT_GROUP")),
                       lambda c: c == '{"a": 1}')

        async with Step("config: beta to one IP, view, stop") as s:
            await page.get_by_role("link", name="Edit", exact=True).click()
            await fill_editor(page, '{"a": "beta"}')
            await page.get_by_label("Beta release: publish only to some IPs").check()
            await page.get_by_label("Beta IPs (comma separated)").fill("10.9.9.9")
            await page.get_by_role("button", name="Publish", exact=True).click()
            await expect(page.locator("dl.props").nth(1)).to_contain_text("10.9.9.9")
            await expect(page.locator("pre.code").nth(1)).to_contain_text('"beta"')
            got = await config.get_config(ConfigParam(data_id="ui.json", group="DEFAULT_GROUP"))
            assert got == '{"a": 1}', f"a client outside the beta got {got!r}"
            await shot(page, "config-beta")
            await page.get_by_role("button", name="Stop beta").click()
            await page.get_by_role("dialog").get_by_role("button", name="Stop beta").click()
            await expect(page.get_by_text("No beta release.")).to_be_visible()

        async with Step("config: listeners show the SDK's listener and its MD5") as s:
            seen = asyncio.Event()

            async def on_change(tenant, data_id, group, content):
                seen.set()
            await config.add_listener("ui.json", "DEFAULT_GROUP", on_change)
            await go(page, "/config/listeners?ns=public&dataId=ui.json&group=DEFAULT_GROUP")
            await expect(page.get_by_role("cell", name="127.0.0.1", exact=True)).to_be_visible()
            await expect(page.locator("tbody")).to_contain_text("yes")
            await shot(page, "config-listeners")
            await page.get_by_role("link", name="127.0.0.1").click()
            await expect(page.get_by_role("cell", name="ui.json", exact=True)).to_be_visible()

        async with Step("configs: list, filters, content search") as s:
            await go(page, "/configs?ns=public&dataId=ui&search=blur")
            await expect(page.get_by_role("link", name="ui.json")).to_be_visible()
            await go(page, "/configs?ns=public&dataId=ui&search=accurate")
            await expect(page.get_by_text("No configs match.")).to_be_visible()
            await go(page, "/configs?ns=public&content=%22a%22")
            await expect(page.get_by_role("link", name="ui.json")).to_be_visible()
            await audit(page)
            await shot(page, "configs")

        async with Step("configs: export a Nacos ZIP, import it elsewhere, clone") as s:
            await go(page, "/configs?ns=public")
            async with page.expect_download() as dl:
                await page.get_by_role("button", name="Export all matching").click()
            path = os.path.join(TMP, "export.zip")
            await (await dl.value).save_as(path)
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                meta = z.read(".metadata.yml").decode()
            assert "DEFAULT_GROUP/ui.json" in names and names[-1] == ".metadata.yml", names
            assert "dataId: ui.json" in meta and "type: json" in meta, meta
            await go(page, f"/configs?ns={NS}")
            await page.get_by_role("button", name="Import ZIP").click()
            dlg = page.get_by_role("dialog")
            await dlg.get_by_label(re.compile("^ZIP file")).set_input_files(path)
            await dlg.get_by_label("When a config exists").select_option("SKIP")
            await dlg.get_by_role("button", name="Import").click()
            await expect(page.get_by_role("status").filter(has_text="Import: 1 written")).to_be_visible()
            await expect(page.get_by_role("link", name="ui.json")).to_be_visible()
            await shot(page, "configs-imported")
            await go(page, "/configs?ns=public")
            await page.get_by_role("checkbox", name="Select ui.json").check()
            await page.get_by_role("button", name="Clone selected to…").click()
            dlg = page.get_by_role("dialog")
            await dlg.get_by_label("Target namespace").select_option(NS)
            await dlg.get_by_label("When a config exists there").select_option("SKIP")
            await dlg.get_by_role("button", name="Clone").click()
            await expect(page.get_by_role("status").filter(has_text="1 skipped")).to_be_visible()
            s.detail = f"{len(names)} entries"

        naming_a = await NacosNamingService.create_naming_service(sdk_config("naming-a"))
        naming_b = await NacosNamingService.create_naming_service(sdk_config("naming-b"))
        pushes = []
        pushed = asyncio.Condition()

        async def on_push(instances):
            async with pushed:
                pushes.append({(i.ip, i.port): i for i in instances})
                pushed.notify_all()

        async with Step("services: an instance an SDK registers shows without a reload") as s:
            await go(page, "/services?ns=public")
            await expect(page.get_by_text("No services match.")).to_be_visible()
            t0 = time.monotonic()
            await naming_a.register_instance(RegisterInstanceParam(
                service_name="ui-svc", group_name="DEFAULT_GROUP", ip="10.7.0.1", port=8080, weight=1.0,
                metadata={"xss": "<img src=x onerror=\"window.__xss=1\">"}, ephemeral=True))
            await expect(page.get_by_role("link", name="ui-svc")).to_be_visible()
            s.detail = f"shown {time.monotonic() - t0:.2f}s after register returned"
            await shot(page, "services")

        async with Step("services: taking an instance offline in the UI pushes a view without it") as s:
            await naming_b.subscribe(SubscribeServiceParam(service_name="ui-svc", group_name="DEFAULT_GROUP",
                                                           subscribe_callback=on_push))
            await naming_a.register_instance(RegisterInstanceParam(
                service_name="ui-svc", group_name="DEFAULT_GROUP", ip="10.7.0.2", port=8080, weight=1.0,
                ephemeral=True))
            async with pushed:
                await asyncio.wait_for(pushed.wait_for(lambda: pushes and ("10.7.0.2", 8080) in pushes[-1]), 15)
            # (Not a click on the live list: it is being redrawn with 10.7.0.2.)
            await go(page, "/service?ns=public&name=ui-svc&group=DEFAULT_GROUP")
            await expect(page.get_by_role("cell", name="10.7.0.2", exact=True)).to_be_visible()
            await expect(page.get_by_role("cell", name="127.0.0.1", exact=False).first).to_be_visible()
            await audit(page)
            await shot(page, "service-detail")
            await page.get_by_role("button", name="Take offline 10.7.0.1:8080").click()
            async with pushed:
                await asyncio.wait_for(pushed.wait_for(
                    lambda: pushes and ("10.7.0.1", 8080) not in pushes[-1] and ("10.7.0.2", 8080) in pushes[-1]), 15)
            await expect(page.get_by_role("button", name="Bring online 10.7.0.1:8080")).to_be_visible()
            await page.get_by_role("button", name="Bring online 10.7.0.1:8080").click()
            async with pushed:
                await asyncio.wait_for(pushed.wait_for(lambda: pushes and ("10.7.0.1", 8080) in pushes[-1]), 15)
            s.detail = f"{len(pushes)} pushes seen"

        async with Step("services: edit an instance's weight and metadata") as s:
            await page.get_by_role("row", name=re.compile("10.7.0.2")).get_by_role("button", name="Edit").click()
            await page.get_by_label("Weight").fill("3")
            await page.get_by_label("Metadata (key=value per line, or JSON)").fill("zone=b\nversion=2")
            await page.get_by_role("button", name="Save").click()
            await expect(page.get_by_role("row", name=re.compile("10.7.0.2"))).to_contain_text("zone=b")
            async with pushed:
                await asyncio.wait_for(pushed.wait_for(
                    lambda: pushes and ("10.7.0.2", 8080) in pushes[-1] and pushes[-1][("10.7.0.2", 8080)].weight == 3.0), 15)

        async with Step("clients: the SDK connections with what they hold") as s:
            await go(page, "/clients")
            await expect(page.get_by_role("cell", name=re.compile("Nacos-Python")).first).to_be_visible()
            await audit(page)
            await shot(page, "clients")
            await page.locator("tbody tr").first.get_by_role("link").click()
            await expect(page.get_by_role("heading", name="Registered instances")).to_be_visible()
            await shot(page, "client-detail")

        async with Step("cluster page lists the member") as s:
            await go(page, "/cluster")
            await expect(page.get_by_role("cell", name="Leader")).to_be_visible()
            await shot(page, "cluster")

        async with Step("audit page shows who changed what, and filters") as s:
            await go(page, "/audit")
            # The configs published through the UI above were made by the admin.
            row = page.get_by_role("row", name=re.compile("publish")).first
            await expect(row).to_contain_text("nacos")
            await audit(page)
            await page.get_by_label("Kind").select_option("instance")
            await page.get_by_role("button", name="Search").click()
            await page.wait_for_function("() => document.body.dataset.rendered.includes('kind=instance')")
            await expect(page.get_by_role("row", name=re.compile("ui-svc")).first).to_be_visible()
            kinds = await page.locator("tbody tr td:nth-child(4)").all_text_contents()
            assert kinds and all(k == "instance" for k in kinds), kinds
            await shot(page, "audit")

        async with Step("stored <script> and <img onerror> render as text") as s:
            token = await page.evaluate("sessionStorage.getItem('nocas.token')")
            r = await page.request.post(f"{BASE}/nacos/v3/admin/cs/config", headers={"Authorization": f"Bearer {token}"},
                                        form={"dataId": "xss.html", "groupName": "DEFAULT_GROUP", "type": "html",
                                              "content": '<script>window.__xss=2</script><img src=x onerror="window.__xss=3">',
                                              "desc": '<img src=x onerror="window.__xss=4">'})
            assert r.ok, await r.text()
            await go(page, "/config?ns=public&dataId=xss.html&group=DEFAULT_GROUP")
            await expect(page.locator("pre.code")).to_contain_text("<script>window.__xss=2</script>")
            await expect(page.locator("dl.props")).to_contain_text('<img src=x onerror="window.__xss=4">')
            await go(page, "/service?ns=public&name=ui-svc&group=DEFAULT_GROUP")
            await expect(page.get_by_role("row", name=re.compile("10.7.0.1"))).to_contain_text("onerror")
            await page.wait_for_timeout(500)
            flag = await page.evaluate("window.__xss")
            assert flag is None, f"stored script ran: window.__xss={flag}"
            assert await page.locator("img[src=x]").count() == 0

        async with Step("access control pages: users, roles, permissions made in the UI") as s:
            await go(page, "/users")
            await page.get_by_role("button", name="Create user").click()
            await page.get_by_role("dialog").get_by_label("User name").fill("viewer")
            await page.get_by_role("dialog").get_by_label("Password").fill("viewer-pw-1")
            await page.get_by_role("dialog").get_by_role("button", name="Create").click()
            await expect(page.get_by_role("cell", name="viewer", exact=True)).to_be_visible()
            await shot(page, "users")
            await go(page, "/roles")
            await page.get_by_role("button", name="Bind a role to a user").click()
            await page.get_by_role("dialog").get_by_label("Role").fill("dev-team")
            await page.get_by_role("dialog").get_by_label("User name").fill("viewer")
            await page.get_by_role("dialog").get_by_role("button", name="Bind").click()
            await expect(page.get_by_role("cell", name="dev-team", exact=True)).to_be_visible()
            await go(page, "/permissions")
            for resource, action in ((f"{NS}:*:*", "rw"), ("public:*:*", "r")):
                await page.get_by_role("button", name="Grant a permission").click()
                dlg = page.get_by_role("dialog")
                await dlg.get_by_label("Role").fill("dev-team")
                await dlg.get_by_label(re.compile("^Resource")).fill(resource)
                await dlg.get_by_label("Action").select_option(action)
                await dlg.get_by_role("button", name="Grant").click()
                await expect(page.get_by_role("cell", name=resource, exact=True)).to_be_visible()
            await audit(page)
            await shot(page, "permissions")

        if SHOTS:
            await go(page, "/overview")
            await page.wait_for_timeout(4500)  # samples for the live charts
            await shot(page, "overview")

        async with Step("a user limited to one namespace sees read-only screens elsewhere") as s:
            await page.get_by_role("button", name="Log out").click()
            await login("viewer", "viewer-pw-1")
            await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
            await expect(page.get_by_role("link", name="Clients")).to_have_count(0)
            await go(page, "/configs?ns=public")
            await expect(page.get_by_role("link", name="ui.json")).to_be_visible()
            await expect(page.get_by_role("note")).to_contain_text("Read-only")
            await expect(page.get_by_role("link", name="Create config")).to_have_count(0)
            await expect(page.get_by_role("link", name="Edit")).to_have_count(0)
            await go(page, "/service?ns=public&name=ui-svc&group=DEFAULT_GROUP")
            await expect(page.get_by_role("cell", name="10.7.0.1", exact=True)).to_be_visible()
            await expect(page.get_by_role("button", name=re.compile("Take offline"))).to_have_count(0)
            await shot(page, "read-only")
            await go(page, f"/configs?ns={NS}")
            await expect(page.get_by_role("link", name="Create config")).to_be_visible()
            await page.get_by_role("link", name="Create config").click()
            # The list has a "Data ID" filter too: fill the form's only once
            # the editor page is there.
            await expect(page.get_by_role("heading", name="Create config")).to_be_visible()
            await page.get_by_label("Data ID").fill("viewer.txt")
            await fill_editor(page, "hello from viewer")
            await page.get_by_role("button", name="Publish", exact=True).click()
            await expect(page.get_by_role("heading", name="viewer.txt")).to_be_visible()
            await expect(page.locator("dl.props")).to_contain_text("viewer")  # last change: who

        async with Step("a refused call says why") as s:
            await go(page, "/users")
            await expect(page.get_by_role("alert")).to_contain_text("Refused")

        async with Step("works 375 px wide") as s:
            await page.set_viewport_size({"width": 375, "height": 760})
            try:
                await go(page, f"/configs?ns={NS}")
                await expect(page.get_by_role("link", name="viewer.txt")).to_be_visible()
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= 376, f"page is {width}px wide at 375"
                await shot(page, "narrow")
            finally:
                await page.set_viewport_size({"width": 1280, "height": 860})

        async with Step("Simplified Chinese") as s:
            await page.get_by_role("button", name="Switch language").click()
            await expect(page.get_by_role("heading", name="配置")).to_be_visible()
            await shot(page, "chinese")
            await page.get_by_role("button", name="切换语言").click()
            await expect(page.get_by_role("heading", name="Configs")).to_be_visible()

        async with Step("every control has a visible label, every action visible text") as s:
            assert len(AUDITED) >= 8, AUDITED
            s.detail = f"{len(AUDITED)} pages audited"

        async with Step("no page logged an error") as s:
            unexpected = [(u, e) for u, e in ERRORS if not any(p.search(e) for p in EXPECTED_ERRORS)]
            assert not unexpected, unexpected
            s.detail = f"{len(ERRORS)} expected error(s)"

        await browser.close()
    for closer in (naming_a, naming_b):
        if closer is not None:
            try:
                await asyncio.wait_for(closer.shutdown(), 5)
            except Exception:  # noqa: BLE001 - best effort
                pass
    if config is not None:
        try:
            await asyncio.wait_for(config.shutdown(), 5)
        except Exception:  # noqa: BLE001
            pass


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # noqa: BLE001
        record("run", False, f"{type(e).__name__}: {e}")
    shutil.rmtree(TMP, ignore_errors=True)
    passed = sum(1 for _, ok in RESULTS if ok)
    out(f"{passed} passed, {len(RESULTS) - passed} failed")
    ok = passed == len(RESULTS) and passed > 0
    out(f"RESULT: {'PASS' if ok else 'FAIL'}")
    sys.stdout.flush()
    os._exit(0 if ok else 1)
