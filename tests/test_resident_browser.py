"""Issue 15: the residents' H5 pages in headless Chromium (Debian's package) at a phone's viewport (375×667):
查询, 参保凭证 (page and PDF), 退费申请 and the pay flow through the channels' own pay steps as the simulator
(served by canbao at /simulator) plays them — WeChat's 网页授权, JSAPI and WeixinJSBridge; Alipay's 手机网站支付 —
to the order's status page saying 缴费成功.  Nothing may be loaded
from outside canbao and no script may fail (browser_support.OffsiteGuard)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, select

from area_data import enroll
from browser_support import OffsiteGuard, chromium, serve
from canbao.cli.simulator import merchant_key_pem
from canbao.ids import make_id_number, mask_id_number
from canbao.services.notifications import apply_pending
from canbao.simulator.keys import ChannelKeys
from canbao.store.db import make_engine
from canbao.store.tables import ledger_entries
from conftest import fresh_database
from test_resident import NOW, resident_portal

TODAY = dt.date(2021, 12, 20)
PHONE = {"width": 375, "height": 667}


@dataclass
class Site:
    base_url: str
    engine: Engine
    name: str
    id_number: str


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("h5")
    with fresh_database("sqlite", folder) as url:
        engine = make_engine(url)
        _, id_number = enroll(engine, "林一", "灵城镇", "城东社区")
        simulator = folder / "simulator"  # the simulated channels at /simulator, as `simulator setup` makes them
        simulator.mkdir()
        merchant = merchant_key_pem(simulator)
        made = [ChannelKeys.generate(kind, name) for name, kind in (("wx", "wechatpay_v3"), ("ali", "alipay"))]
        for keys in made:
            keys.save(simulator)
        portal = resident_portal(engine, "127.0.0.1", fixed_today=TODAY, simulator=simulator)
        with serve(portal.app) as base_url:
            gateway = f"{base_url}/simulator"
            for keys in made:  # with the pay step: canbao's public URL is the test server's
                address = gateway if keys.kind == "wechatpay_v3" else f"{gateway}/gateway.do"
                keys.register(engine, actor="test", now=NOW, query=(merchant, address), pay=(base_url, gateway))
            yield Site(base_url, engine, "林一", id_number)
        engine.dispose()


@pytest.fixture
def phone(browser: Browser, site: Site, tmp_path: Path) -> Iterator[tuple[Page, OffsiteGuard]]:
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2, accept_downloads=True)  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15_000)
    guard = OffsiteGuard(page, site.base_url)
    yield page, guard
    context.close()
    guard.check()


def _identify(page: Page, name: str, id_number: str) -> None:
    page.fill("#name", name)
    page.fill("#id-number", id_number)
    page.click("#identity-submit")


def _fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"


def test_records_on_a_phone(phone: tuple[Page, OffsiteGuard], site: Site) -> None:
    page, guard = phone
    page.goto(f"{site.base_url}/h5/")
    _fits_the_phone(page)
    box = page.locator("#go-records").bounding_box()
    assert box is not None and box["height"] >= 44  # a thumb's target
    page.click("#go-records")
    page.wait_for_url("**/h5/records")
    _identify(page, "林二", site.id_number)
    expect(page.locator("#identity-error")).to_contain_text("姓名与身份证号码不一致")
    _identify(page, site.name, site.id_number)
    card = page.locator("#records .enrollment").first
    expect(card).to_contain_text("2022 年度")
    expect(card).to_contain_text("320.00 元")
    expect(card).to_contain_text("2022-01-01 至 2022-12-31")
    expect(page.locator("#records")).to_contain_text(mask_id_number(site.id_number))
    assert site.id_number not in page.content()
    assert site.id_number not in " ".join(guard.requests)  # the ID went in a body, never an address
    _fits_the_phone(page)


def test_certificate_page_and_pdf(phone: tuple[Page, OffsiteGuard], site: Site) -> None:
    page, _ = phone
    page.goto(f"{site.base_url}/h5/certificate")
    _identify(page, site.name, site.id_number)
    expect(page.locator("#certificate")).to_be_visible()
    expect(page.locator("#certificate-lines")).to_contain_text(site.name)
    expect(page.locator("#certificate-lines")).to_contain_text(mask_id_number(site.id_number))
    code = page.locator("#certificate-code").inner_text()
    assert len(code) == 14 and code.count("-") == 2
    with page.expect_download() as download:
        page.click("#certificate-pdf")
    path = download.value.path()
    assert path is not None and Path(path).read_bytes().startswith(b"%PDF-")
    _fits_the_phone(page)


def test_refund_request_gets_the_policy_answer(phone: tuple[Page, OffsiteGuard], site: Site) -> None:
    page, _ = phone
    page.goto(f"{site.base_url}/h5/refund")
    page.fill("#name", site.name)
    page.fill("#id-number", site.id_number)
    page.fill("#benefit-year", "2022")
    page.select_option("#reason", "death")
    page.click("#refund-submit")
    expect(page.locator("#refund-headline")).to_have_text("政策未规定此情形的退费")
    expect(page.locator("#refund-why")).to_contain_text("003 三(六)")


def _new_payer_at_the_pay_page(page: Page, site: Site, name: str, id_number: str) -> None:
    """The pay page with a payer registering as new in 灵璧's 灵城镇."""
    page.goto(f"{site.base_url}/h5/pay")
    page.fill("#payer-name", name)
    page.fill("#payer-id", id_number)
    page.click("#payer-register summary")
    page.select_option("#payer-register .r-residency", "local_hukou")
    page.select_option("#payer-register .r-county", "341323")
    page.fill("#payer-register .r-township", "灵城镇")
    page.fill("#payer-register .r-village", "城东社区")


def test_pay_flow_for_a_new_registration_and_a_newborn(phone: tuple[Page, OffsiteGuard], site: Site) -> None:
    page, _ = phone
    payer = make_id_number("341323", dt.date(1990, 3, 3), 517)
    baby = make_id_number("341323", dt.date(2021, 11, 1), 518)
    _new_payer_at_the_pay_page(page, site, "周新", payer)
    page.click("#add-newborn")
    member = page.locator("#members fieldset").first
    member.locator(".m-name").fill("周宝")
    member.locator(".m-id").fill(baby)
    member.locator(".r-county").select_option("341323")
    member.locator(".r-township").fill("灵城镇")
    expect(page.locator("#newborn-rules")).to_contain_text("90日内")
    page.click("#preview")
    expect(page.locator("#quote")).to_be_visible()
    persons = page.locator("#quote-persons .quote-person")
    expect(persons).to_have_count(2)
    expect(persons.first).to_contain_text("新参保")
    expect(persons.first).to_contain_text("待遇享受期")
    expect(page.locator("#quote-total")).to_contain_text("元")
    _fits_the_phone(page)
    page.click("#pay")  # WeChat Pay JSAPI: 网页授权 (the simulator's), back with the code, JSAPI 下单, the bridge
    page.wait_for_url("**/h5/wxpay/**")
    expect(page.locator("#wx-sim-cashier")).to_contain_text("模拟收银台")
    page.click("#wx-sim-pay")
    page.wait_for_url("**/h5/status/**")
    expect(page.locator("#status-persons li")).to_have_count(2)
    number = page.url.rsplit("/", 1)[-1]
    deadline = time.monotonic() + 20  # the signed notification reaches /notify; the applier's part, here
    while apply_pending(site.engine, runner="test", now=NOW, today=TODAY).applied == 0:
        assert time.monotonic() < deadline, "the simulator's notification never reached canbao"
        time.sleep(0.2)
    expect(page.locator("#status-text")).to_have_text("缴费成功", timeout=20_000)
    expect(page.locator("#status-note")).to_contain_text("交易流水号")
    with site.engine.connect() as c:
        entries = c.execute(
            select(ledger_entries.c.channel_name, ledger_entries.c.out_trade_no)
            .where(ledger_entries.c.out_trade_no == number)
        ).all()  # fmt: skip
    assert [tuple(e) for e in entries] == [("wx", number), ("wx", number)]  # the payer and the newborn


@pytest.fixture(scope="module")
def huaiyuan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """怀远县 during its 2025 campaign (collected in 2024): no one registered yet."""
    folder = tmp_path_factory.mktemp("h5_huaiyuan")
    with fresh_database("sqlite", folder) as url:
        engine = make_engine(url)
        portal = resident_portal(engine, "127.0.0.1", fixed_today=dt.date(2024, 11, 1))
        with serve(portal.app) as base_url:
            yield base_url
        engine.dispose()


def test_a_2024_born_newborn_is_told_of_both_dues(browser: Browser, huaiyuan: str) -> None:
    """004 三(一): a newborn born in 2024 pays 380 元 for 2024 and 400 元 for 2025 to be covered in both years."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    guard = OffsiteGuard(page, huaiyuan)
    parent = make_id_number("340321", dt.date(1992, 2, 2), 611)
    baby = make_id_number("340321", dt.date(2024, 10, 1), 612)
    page.goto(f"{huaiyuan}/h5/pay")
    page.fill("#payer-name", "怀父")
    page.fill("#payer-id", parent)
    page.uncheck("#payer-self")  # the guardian pays for the newborn only
    page.click("#add-newborn")
    member = page.locator("#members fieldset").first
    member.locator(".m-name").fill("怀宝")
    member.locator(".m-id").fill(baby)
    member.locator(".m-id").dispatch_event("change")
    assert member.locator(".r-county").input_value() == "340321"  # from the ID number
    rules = page.locator("#newborn-rules .rule:not([hidden])")
    expect(rules).to_have_count(1)
    expect(rules).to_contain_text("怀远县")
    expect(rules).to_contain_text("380")
    member.locator(".r-township").fill("榴城镇")
    page.click("#preview")
    quoted = page.locator("#quote-persons .quote-person")
    expect(quoted).to_have_count(1)
    expect(quoted).to_contain_text("400.00 元")
    expect(quoted.locator(".additional-due")).to_contain_text("2024 年度的 380.00 元")
    expect(quoted).to_contain_text("004 三(一)")
    expect(quoted).to_contain_text("自 2024-10-01 起享受待遇")
    _fits_the_phone(page)
    context.close()
    guard.check()


def test_pay_through_alipay_wap_pay(phone: tuple[Page, OffsiteGuard], site: Site) -> None:
    """Alipay 手机网站支付: the signed alipay.trade.wap.pay taken to the (simulated) gateway, its cashier, back to
    the status page (return_url) while the notification enrolls."""
    page, _ = phone
    payer = make_id_number("341323", dt.date(1988, 5, 5), 519)
    _new_payer_at_the_pay_page(page, site, "钱支", payer)
    page.click("#preview")
    page.check("#channels input[value=ali]")
    page.click("#pay")
    page.wait_for_url("**/simulator/gateway.do?**method=alipay.trade.wap.pay**")
    expect(page.locator("body")).to_contain_text("支付宝 · 模拟收银台")
    page.click("#confirm-pay")
    page.wait_for_url("**/h5/status/**")
    deadline = time.monotonic() + 20
    while apply_pending(site.engine, runner="test", now=NOW, today=TODAY).applied == 0:
        assert time.monotonic() < deadline, "the simulator's notification never reached canbao"
        time.sleep(0.2)
    expect(page.locator("#status-text")).to_have_text("缴费成功", timeout=20_000)
