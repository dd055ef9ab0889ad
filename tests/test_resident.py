"""Issue 15, the resident side that is not an order: 查询 (services.resident.records), 退费申请 (request_refund),
参保凭证 (services.certificates) and their JSON API (web.api_resident), on SQLite and PostgreSQL.

Persons are enrolled through services.payments.pay (tests/area_data.enroll); a family's online order is written
as the orders use case leaves a paid one (an `orders` row and its `order_persons`, each with its enrollment)."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from area_data import COUNTY, OTHER, STAFF, P, enroll, new_id
from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.services.access import OutOfArea
from canbao.services.certificates import (
    ALPHABET,
    CODE_LENGTH,
    certificate_for,
    certificate_pdf,
    display_code,
    verify_certificate,
)
from canbao.services.payments import Payment, pay, refund
from canbao.services.resident import REQUEST_STATUS_LABELS, records, request_refund
from canbao.services.resident_access import NotRecognised, TooManyAttempts
from canbao.store.tables import (
    audit_log,
    certificates,
    enrollments,
    ledger_entries,
    order_persons,
    orders,
    persons,
    refund_requests,
)
from web_support import Portal

NOW = dt.datetime(2021, 12, 20, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2021, 12, 20)
ADDRESS = "10.1.2.3"


def _enrollment_of(engine: Engine, id_number: str) -> int:
    with engine.connect() as c:
        return int(
            c.execute(
                select(enrollments.c.id)
                .join(persons, persons.c.id == enrollments.c.person_id)
                .where(persons.c.id_number == id_number)
            ).scalar_one()
        )


def _family_order(engine: Engine, payer_id: str, members: list[tuple[str, str]]) -> str:
    """A paid online order of `payer_id` for `members` (name, ID number), each enrolled by its own payment with
    the order's transaction id (suffixed after the first), as the orders use case applies one."""
    out_trade_no = "CB" + secrets.token_hex(8).upper()
    txn = "42000" + secrets.token_hex(6)
    with engine.begin() as c:
        order_id = c.execute(
            insert(orders)
            .values(
                out_trade_no=out_trade_no, channel="wx", channel_kind="wechatpay_v3", policy=P, benefit_year=2022,
                payer_id_number=payer_id, amount_fen=32000 * len(members), status="paid", token_sha256="0" * 64,
                created_at=NOW, paid_at=NOW, channel_txn_id=txn,
            )
            .returning(orders.c.id)
        ).scalar_one()  # fmt: skip
    for seq, (name, id_number) in enumerate(members, start=1):
        application = {
            "person": {"id_number": id_number, "name": name, "county": COUNTY, "residency": "local_hukou"},
            "situation": "regular",
            "paid_on": "2021-12-01",
        }
        result = pay(
            engine,
            Payment(P, application, "online", txn if seq == 1 else f"{txn}-{seq}", Decimal("320"), channel_name="wx",
                    township="灵城镇", village="城东社区"),
            "test",
        )  # fmt: skip
        with engine.begin() as c:
            c.execute(
                insert(order_persons).values(
                    order_id=order_id, seq=seq, id_number=id_number, name=name, application=json.dumps(application),
                    township="灵城镇", village="城东社区", amount_fen=32000, enrollment_id=result.enrollment_id,
                )
            )  # fmt: skip
    return out_trade_no


def resident_portal(engine: Engine, address: str, **settings: Any) -> Portal:
    """The portal (with the residents' routers) seen from `address`."""
    return Portal(engine, now=NOW, address=address, **settings)


def _no_full_id(text: str, *id_numbers: str) -> None:
    for id_number in id_numbers:
        assert id_number not in text


# --- 查询 ----------------------------------------------------------------------------------------------------


def test_records_show_own_enrollment_and_payment_masked(engine: Engine) -> None:
    _, id_number = enroll(engine, "赵一", "灵城镇", "城东社区")
    found = records(engine, "赵一", id_number, address=ADDRESS, now=NOW)
    assert found.me.name == "赵一"
    assert found.me.masked_id == mask_id_number(id_number)
    [one] = found.me.enrollments
    assert (one.benefit_year, one.status, one.amount_fen) == (2022, "active", 32000)
    assert (one.benefit_start, one.benefit_end) == (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    assert one.txn_id is not None and one.channel_label == "线上自助缴费"
    assert [p.kind for p in one.payments] == ["payment"]
    assert found.family == []
    _no_full_id(repr(found), id_number)


def test_records_include_family_members_the_resident_paid_for(engine: Engine) -> None:
    payer = new_id("1980-05-05")
    child, baby = new_id("2010-02-02"), new_id("2021-10-01")
    out_trade_no = _family_order(engine, payer, [("钱父", payer), ("钱子", child), ("钱女", baby)])
    _, stranger = enroll(engine, "孙某", "灵城镇", "城东社区")
    found = records(engine, "钱父", payer, address=ADDRESS, now=NOW)
    assert [e.out_trade_no for e in found.me.enrollments] == [out_trade_no]
    assert [(m.name, m.masked_id) for m in found.family] == [
        ("钱子", mask_id_number(child)),
        ("钱女", mask_id_number(baby)),
    ]
    txns = [m.enrollments[0].txn_id for m in found.family]
    assert txns[0] is not None and txns[0].endswith("-2") and txns[1] is not None and txns[1].endswith("-3")
    assert all(m.enrollments[0].channel_label == "wx" or "wx" in m.enrollments[0].channel_label for m in found.family)
    _no_full_id(repr(found), payer, child, baby, stranger)
    # the child sees their own, not their parent's
    own = records(engine, "钱子", child, address=ADDRESS, now=NOW)
    assert own.family == [] and len(own.me.enrollments) == 1


def test_name_and_id_must_agree_and_an_unknown_id_gets_the_same_answer(engine: Engine) -> None:
    _, id_number = enroll(engine, "周二", "灵城镇", "城东社区")
    with pytest.raises(NotRecognised) as wrong_name:
        records(engine, "周三", id_number, address=ADDRESS, now=NOW)
    with pytest.raises(NotRecognised) as unknown:
        records(engine, "周二", new_id("1970-01-01"), address=ADDRESS, now=NOW)
    assert str(wrong_name.value) == str(unknown.value)
    assert wrong_name.value.field == unknown.value.field
    _no_full_id(str(wrong_name.value), id_number)
    with pytest.raises(InputError) as bad:
        records(engine, "周二", "12345", address=ADDRESS, now=NOW)
    assert bad.value.field == "id_number"


def test_lookups_are_throttled_per_id_number(engine: Engine) -> None:
    _, id_number = enroll(engine, "吴三", "灵城镇", "城东社区")
    with pytest.raises(TooManyAttempts) as refused:
        for attempt in range(60):
            with pytest.raises(NotRecognised):
                records(engine, f"冒名{attempt}", id_number, address=f"10.9.{attempt}.1", now=NOW)
    assert refused.value.retry_after_s > 0
    with pytest.raises(TooManyAttempts):  # even with the right name, for the rest of the window
        records(engine, "吴三", id_number, address="10.8.8.8", now=NOW)


def test_lookups_are_throttled_per_address(engine: Engine) -> None:
    with pytest.raises(TooManyAttempts):
        for _ in range(200):
            with pytest.raises(NotRecognised):
                records(engine, "某人", new_id("1960-06-06"), address="10.7.7.7", now=NOW)


# --- 退费申请 -------------------------------------------------------------------------------------------------


def test_refund_request_before_the_benefit_period_is_recorded_not_paid(engine: Engine) -> None:
    _, id_number = enroll(engine, "郑四", "灵城镇", "城东社区")
    answer = request_refund(engine, "郑四", id_number, 2022, "duplicate_payment", address=ADDRESS, now=NOW, today=TODAY)
    assert answer.covered and answer.refundable and answer.status == "requested"
    assert answer.amount_fen == 32000
    assert "003 三(六)" in answer.why and "2022-01-01" in answer.why
    with engine.connect() as c:
        assert c.execute(select(refund_requests.c.status)).scalars().all() == ["requested"]
        # no money moved: the enrollment is live, no refund entry
        assert c.execute(select(enrollments.c.live)).scalar_one() is True
        assert c.execute(select(func.count()).where(ledger_entries.c.kind == "refund")).scalar_one() == 0
    again = request_refund(engine, "郑四", id_number, 2022, "duplicate_payment", address=ADDRESS, now=NOW, today=TODAY)
    assert again.already_requested and again.request_id == answer.request_id


def test_a_request_the_staff_carried_out_reads_refunded(engine: Engine) -> None:
    _, id_number = enroll(engine, "郑五", "灵城镇", "城东社区")
    request_refund(engine, "郑五", id_number, 2022, "duplicate_payment", address=ADDRESS, now=NOW, today=TODAY)
    [before] = records(engine, "郑五", id_number, address=ADDRESS, now=NOW).me.enrollments
    assert before.refund_request == REQUEST_STATUS_LABELS["requested"]
    assert refund(engine, id_number, 2022, "duplicate_payment", TODAY, "staff").refundable  # the county's staff
    [after] = records(engine, "郑五", id_number, address=ADDRESS, now=NOW).me.enrollments
    assert after.refund_request == REQUEST_STATUS_LABELS["refunded"] == "已退费"


def test_refund_after_the_period_began_is_declined_with_the_clause(engine: Engine) -> None:
    _, id_number = enroll(engine, "冯五", "灵城镇", "城东社区")
    answer = request_refund(
        engine, "冯五", id_number, 2022, "joined_employee_insurance", address=ADDRESS, now=NOW,
        today=dt.date(2022, 3, 1),
    )  # fmt: skip
    assert answer.covered and not answer.refundable and answer.status == "declined" and answer.amount_fen == 0
    assert "不再退回" in answer.why and "003 三(六)" in answer.why


def test_a_reason_the_policy_does_not_cover_says_so(engine: Engine) -> None:
    _, id_number = enroll(engine, "陈六", "灵城镇", "城东社区")
    answer = request_refund(engine, "陈六", id_number, 2022, "death", address=ADDRESS, now=NOW, today=TODAY)
    assert not answer.covered and not answer.refundable and answer.status == "declined"
    assert "未规定" in answer.why and "003 三(六)" in answer.why
    with pytest.raises(InputError) as unknown:
        request_refund(engine, "陈六", id_number, 2022, "bored", address=ADDRESS, now=NOW, today=TODAY)
    assert unknown.value.field == "reason"
    with pytest.raises(InputError) as no_year:
        request_refund(engine, "陈六", id_number, 2023, "duplicate_payment", address=ADDRESS, now=NOW, today=TODAY)
    assert no_year.value.field == "benefit_year"
    with pytest.raises(NotRecognised):
        request_refund(engine, "陈七", id_number, 2022, "duplicate_payment", address=ADDRESS, now=NOW, today=TODAY)


# --- 参保凭证 -------------------------------------------------------------------------------------------------


def test_certificate_code_is_issued_once_and_verified_within_the_area(engine: Engine) -> None:
    _, id_number = enroll(engine, "褚七", "灵城镇", "城东社区")
    enrollment_id = _enrollment_of(engine, id_number)
    first = certificate_for(engine, "褚七", id_number, enrollment_id, address=ADDRESS, now=NOW)
    assert len(first.code) == CODE_LENGTH and set(first.code) <= set(ALPHABET)
    assert re.fullmatch(r"\w{4}-\w{4}-\w{4}", first.display_code)
    second = certificate_for(engine, "褚七", id_number, enrollment_id, address=ADDRESS, now=NOW)
    assert second.code == first.code
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(certificates)).scalar_one() == 1
    assert (first.name, first.masked_id, first.benefit_year, first.amount_fen) == (
        "褚七", mask_id_number(id_number), 2022, 32000,
    )  # fmt: skip
    for staff in (STAFF["county_admin"], STAFF["township"], STAFF["village"]):
        seen = verify_certificate(engine, first.code.lower(), staff)
        assert seen.masked_id == mask_id_number(id_number) and seen.valid
    assert verify_certificate(engine, display_code(first.code), STAFF["village"]).code == first.code
    for staff in (OTHER["township"], OTHER["village"], OTHER["county_admin"]):
        with pytest.raises(OutOfArea):
            verify_certificate(engine, first.code, staff)
    with pytest.raises(OutOfArea):
        verify_certificate(engine, "2222-2222-2222", STAFF["county_admin"])
    with engine.connect() as c:
        outcomes = (
            c.execute(
                select(audit_log.c.outcome).where(audit_log.c.action == "certificate_verify").order_by(audit_log.c.id)
            )
            .scalars()
            .all()
        )
    assert outcomes == ["done"] * 4 + ["refused"] * 4


def test_certificate_only_for_own_or_paid_for_enrollments(engine: Engine) -> None:
    _, mine = enroll(engine, "卫八", "灵城镇", "城东社区")
    _, theirs = enroll(engine, "蒋九", "灵城镇", "城东社区")
    with pytest.raises(InputError) as refused:
        certificate_for(engine, "卫八", mine, _enrollment_of(engine, theirs), address=ADDRESS, now=NOW)
    assert refused.value.field == "enrollment_id"
    with pytest.raises(InputError) as missing:
        certificate_for(engine, "卫八", mine, 987654, address=ADDRESS, now=NOW)
    assert str(missing.value) == str(refused.value)
    payer, child = new_id("1981-01-01"), new_id("2015-01-01")
    _family_order(engine, payer, [("沈父", payer), ("沈子", child)])
    paid = certificate_for(engine, "沈父", payer, _enrollment_of(engine, child), address=ADDRESS, now=NOW)
    assert (paid.name == "沈子" and paid.channel_label.endswith("wx）")) or "wx" in paid.channel_label


def test_certificate_pdf_is_chinese_with_the_font_subset_embedded(engine: Engine) -> None:
    _, id_number = enroll(engine, "韩十", "灵城镇", "城东社区")
    certificate = certificate_for(
        engine, "韩十", id_number, _enrollment_of(engine, id_number), address=ADDRESS, now=NOW
    )
    pdf = certificate_pdf(certificate)
    assert pdf.startswith(b"%PDF-")
    assert b"/FontFile3" in pdf and b"NotoSansCJK" in pdf  # the OpenType font, embedded
    assert re.search(rb"/BaseFont /[A-Z]{6}\+NotoSansCJK", pdf)  # a subset (its tag prefix)
    assert len(pdf) < 200_000  # the subset, not the 16 MB font
    assert id_number.encode() not in pdf
    text = _pdf_text(pdf)
    for words in (
        "城乡居民基本医疗保险参保凭证",
        "韩十",
        mask_id_number(id_number),
        certificate.display_code,
        "320.00",
    ):
        assert words in text, words


def _pdf_text(pdf: bytes) -> str:
    """The text a PDF shows, read back through its ToUnicode map (fpdf2 writes one for the embedded font): each
    Tj string's two-byte glyph ids mapped to the characters."""
    import zlib

    streams = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            streams.append(zlib.decompress(m.group(1)))
        except zlib.error:
            streams.append(m.group(1))
    cmap: dict[bytes, str] = {}
    for s in streams:
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                cmap[bytes.fromhex(src.decode())] = bytes.fromhex(dst.decode()).decode("utf-16-be")
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", s, re.S):
            for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                first, last, base = int(lo, 16), int(hi, 16), int(dst, 16)
                for code in range(first, last + 1):
                    cmap[code.to_bytes(2, "big")] = chr(base + code - first)
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def unescape(literal: bytes) -> bytes:
        def one(m: re.Match[bytes]) -> bytes:
            token = m.group(1)
            if token[:1].isdigit():
                return bytes([int(token, 8)])
            return escapes.get(token, token)

        return re.sub(rb"\\([0-7]{1,3}|.)", one, literal, flags=re.S)

    out = []
    for s in streams:
        for literal in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", s, re.S):
            raw = unescape(literal)
            out.append("".join(cmap.get(raw[i : i + 2], "?") for i in range(0, len(raw), 2)))
    return "\n".join(out)


# --- the JSON API ----------------------------------------------------------------------------------------


def test_resident_api_answers_and_refusals(engine: Engine) -> None:
    _, id_number = enroll(engine, "杨一", "灵城镇", "城东社区")
    portal = resident_portal(engine, "10.3.3.3")
    client = portal.client
    answer = client.post("/api/v1/resident/records", json={"name": "杨一", "id_number": id_number})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["me"]["masked_id"] == mask_id_number(id_number)
    [one] = body["me"]["enrollments"]
    assert one["amount"] == 320 and one["benefit_year"] == 2022 and one["benefit_start"] == "2022-01-01"
    _no_full_id(answer.text, id_number)
    wrong = client.post("/api/v1/resident/records", json={"name": "杨二", "id_number": id_number})
    unknown = client.post("/api/v1/resident/records", json={"name": "杨一", "id_number": new_id("1950-01-01")})
    assert wrong.status_code == unknown.status_code == 422
    assert wrong.json() == unknown.json()
    certificate = client.post(
        "/api/v1/resident/certificates",
        json={"name": "杨一", "id_number": id_number, "enrollment_id": one["enrollment_id"]},
    )
    assert certificate.status_code == 200, certificate.text
    code = certificate.json()["code"]
    assert certificate.json()["lines"][0] == {"label": "姓名", "value": "杨一"}
    pdf = client.post(
        "/api/v1/resident/certificates/pdf",
        json={"name": "杨一", "id_number": id_number, "enrollment_id": one["enrollment_id"]},
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and "attachment" in pdf.headers["content-disposition"]
    refund = client.post(
        "/api/v1/resident/refund-requests",
        json={"name": "杨一", "id_number": id_number, "benefit_year": 2022, "reason": "death"},
    )
    assert refund.status_code == 200 and refund.json()["covered"] is False
    # the staff's check needs a session, then answers within the area
    assert client.get(f"/api/v1/certificates/{code}").status_code == 401
    staff = portal.client_at("10.4.4.4")
    portal.sign_in("village", client=staff, county=COUNTY, township="灵城镇", village="城东社区")
    checked = staff.get(f"/api/v1/certificates/{code}")
    assert checked.status_code == 200 and checked.json()["masked_id"] == mask_id_number(id_number)
    other = portal.client_at("10.5.5.5")
    portal.sign_in("village", client=other, county=COUNTY, township="灵城镇", village="城西社区")
    assert other.get(f"/api/v1/certificates/{code}").status_code == 404


def test_resident_api_throttles_with_retry_after(engine: Engine) -> None:
    _, id_number = enroll(engine, "朱二", "灵城镇", "城东社区")
    portal = resident_portal(engine, "10.6.6.6")
    statuses = []
    for attempt in range(60):
        answer = portal.client.post("/api/v1/resident/records", json={"name": f"冒{attempt}", "id_number": id_number})
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert int(answer.headers["retry-after"]) > 0
            assert "detail" in answer.json()
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {422}


def test_h5_pages_are_served_with_the_portals_policy_and_refuse_foreign_posts(engine: Engine) -> None:
    from canbao.web.pages import CONTENT_SECURITY_POLICY

    portal = resident_portal(engine, "10.7.1.1", fixed_today=TODAY)
    for path in ("/h5/", "/h5/pay", "/h5/records", "/h5/certificate", "/h5/refund", "/h5/status/CB123"):
        page = portal.client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "<script>" not in page.text and "http://" not in page.text and "https://" not in page.text
    assert "90日内" in portal.client.get("/h5/pay").text  # the newborn rule of the open campaigns
    for asset in ("/static/h5/h5.css", "/static/h5/h5.js", "/static/h5/pay.js"):
        assert portal.client.get(asset).status_code == 200
    foreign = portal.client.post(
        "/api/v1/resident/records",
        json={"name": "某", "id_number": new_id()},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
