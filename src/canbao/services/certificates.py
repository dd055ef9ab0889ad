"""参保凭证 (enrollment certificates, issue 15): proof of an enrollment a resident can show, with a verification
code the staff portal checks.

A certificate states the insured person's name, their masked ID number, the benefit year and period, the amount
paid, the channel and its transaction id, and a verification code: 12 characters of an alphabet without the
look-alikes (no 0/O, 1/I/L), random (`secrets`), stored in `certificates` against the enrollment.  One code per
enrollment: asking again gives the same code, so every copy printed carries it.  A resident asks with their name
and ID number (canbao.services.resident.recognised), for their own enrollment or one they paid for.

The PDF is written with fpdf2: it embeds OpenType fonts with PostScript (CFF) outlines, as Noto Sans CJK SC is,
subsetting them through fontTools (already a dependency) to the glyphs used, so a certificate is a few tens of
kilobytes and renders on any viewer without a Chinese font.  ReportLab, the other well-kept choice, embeds
TrueType outlines only and refuses this font ("postscript outlines are not supported").  The font is the one the
portal already serves (the mplfonts package): nothing is downloaded.

Staff verify a code (`verify_certificate`) within their area (services.access.person_in_area): outside it, or an
unknown code, is OutOfArea — not found — and an audit line either way.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from canbao.clock import stored_utc
from canbao.errors import InputError
from canbao.ids import mask_id_number
from canbao.money import to_yuan
from canbao.services.access import OutOfArea, Staff, person_in_area, person_subject
from canbao.services.resident import RESIDENT_ACTOR, channel_label, paid_for, recognised
from canbao.store.tables import certificates, enrollments, ledger_entries, payment_channels, persons
from canbao.store.uow import UnitOfWork, audit
from canbao.vocabulary import ENROLLMENT_STATUS_LABELS

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0 O 1 I L: read aloud or typed from paper without doubt
CODE_LENGTH = 12
CJK_FONT = "NotoSansCJKsc-Regular.otf"


@dataclass(frozen=True)
class Certificate:
    code: str  # the verification code, 12 characters (shown in groups of four: `display_code`)
    name: str
    masked_id: str
    benefit_year: int
    benefit_start: dt.date
    benefit_end: dt.date
    status: str
    status_label: str
    paid_on: dt.date
    amount_fen: int
    channel_label: str
    txn_id: str | None
    policy: str
    issued_at: dt.datetime

    @property
    def display_code(self) -> str:
        return display_code(self.code)

    @property
    def valid(self) -> bool:
        """Whether the enrollment still stands (active or suspended): a refunded one's certificate proves nothing."""
        return self.status in ("active", "suspended")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def display_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_code(text: str) -> str | None:
    """A code as typed (lower case, dashes, spaces) in its stored form; None when it cannot be one."""
    code = "".join(ch for ch in text.upper() if ch not in "- ")
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def _facts(c: Connection, enrollment_id: int, code: str, issued_at: dt.datetime) -> Certificate:
    e, p, le, pc = enrollments.c, persons.c, ledger_entries.c, payment_channels.c
    row = c.execute(
        select(enrollments, p.name, p.id_number).join(persons, p.id == e.person_id).where(e.id == enrollment_id)
    ).one()
    paid = c.execute(
        select(le.channel, le.channel_name, le.channel_txn_id, pc.kind)
        .outerjoin(payment_channels, pc.name == le.channel_name)
        .where(le.enrollment_id == enrollment_id, le.kind == "payment")
        .order_by(le.id)
        .limit(1)
    ).first()
    issued_at = stored_utc(issued_at)
    return Certificate(
        code=code,
        name=row.name,
        masked_id=mask_id_number(row.id_number),
        benefit_year=int(row.benefit_year),
        benefit_start=row.benefit_start,
        benefit_end=row.benefit_end,
        status=row.status,
        status_label=ENROLLMENT_STATUS_LABELS.get(row.status, row.status),
        paid_on=row.paid_on,
        amount_fen=int(row.amount_due_fen),
        channel_label=channel_label(paid.channel, paid.channel_name, paid.kind)
        if paid
        else channel_label(row.channel, row.channel_name, None),
        txn_id=paid.channel_txn_id if paid else None,
        policy=row.policy,
        issued_at=issued_at,
    )


def certificate_for(
    engine: Engine, name: str, id_number: str, enrollment_id: int, *, address: str, now: dt.datetime
) -> Certificate:
    """The certificate of an enrollment of the resident's own, or of one they paid for, issuing its code the first
    time.  Someone else's enrollment (or none) is InputError("enrollment_id", …), the same words either way."""
    person = recognised(engine, name, id_number, address=address, action="certificate", now=now)
    with UnitOfWork(engine, RESIDENT_ACTOR) as uow:
        c = uow.connection
        owner = c.execute(select(enrollments.c.person_id).where(enrollments.c.id == enrollment_id)).scalar()
        mine = owner is not None and int(owner) == int(person["id"])
        theirs = any(enrollment_id in ids for ids in paid_for(c, person["id_number"]).values())
        if not (mine or theirs):
            raise InputError("enrollment_id", "没有找到这条参保记录")
        found = c.execute(
            select(certificates.c.code, certificates.c.issued_at)
            .where(certificates.c.enrollment_id == enrollment_id)
            .order_by(certificates.c.issued_at)
            .limit(1)
        ).first()
        if found is None:
            code = new_code()
            try:
                c.execute(insert(certificates).values(code=code, enrollment_id=enrollment_id, issued_at=now))
                uow.commit()
            except IntegrityError:  # a code drawn twice (31**12 codes: never in practice): draw again next call
                raise InputError("enrollment_id", "生成凭证失败，请重试") from None
            issued = now
        else:
            code, issued = found.code, found.issued_at
        certificate = _facts(c, enrollment_id, code, issued)
    if found is None:
        audit(engine, RESIDENT_ACTOR, "certificate_issue", mask_id_number(id_number), "done", display_code(code))
    return certificate


def verify_certificate(engine: Engine, code: str, staff: Staff) -> Certificate:
    """The facts of the certificate with this code, masked, for a member of staff whose area holds the person;
    OutOfArea (not found) otherwise, as for an unknown code.  An audit line either way."""
    normal = normalise_code(code)
    with engine.connect() as c:
        found = None
        if normal is not None:
            found = c.execute(
                select(certificates.c.enrollment_id, certificates.c.issued_at, enrollments.c.person_id)
                .join(enrollments, enrollments.c.id == certificates.c.enrollment_id)
                .join(persons, persons.c.id == enrollments.c.person_id)
                .where(certificates.c.code == normal, person_in_area(staff))
            ).first()
        certificate = None if found is None else _facts(c, int(found.enrollment_id), normal or "", found.issued_at)
    if found is None or certificate is None:
        audit(engine, staff.actor, "certificate_verify", None, "refused", "凭证验证码不存在或不在本辖区")
        raise OutOfArea("参保凭证")
    audit(
        engine, staff.actor, "certificate_verify", person_subject(int(found.person_id)), "done",
        display_code(certificate.code),
    )  # fmt: skip
    return certificate


# --- the PDF ------------------------------------------------------------------------------------------------


def font_path() -> Path:
    import mplfonts

    return Path(mplfonts.__file__).parent / "fonts" / CJK_FONT


def _yuan(fen: int) -> str:
    return f"{to_yuan(fen):.2f} 元"


def certificate_lines(certificate: Certificate) -> list[tuple[str, str]]:
    """The certificate's facts as (label, value), as the page and the PDF print them."""
    return [
        ("姓名", certificate.name),
        ("身份证号码", certificate.masked_id),
        ("待遇年度", f"{certificate.benefit_year} 年度"),
        ("待遇享受期", f"{certificate.benefit_start:%Y-%m-%d} 至 {certificate.benefit_end:%Y-%m-%d}"),
        ("参保状态", certificate.status_label),
        ("缴费日期", f"{certificate.paid_on:%Y-%m-%d}"),
        ("缴费金额", _yuan(certificate.amount_fen)),
        ("缴费渠道", certificate.channel_label or "—"),
        ("交易流水号", certificate.txn_id or "—"),
    ]


def certificate_pdf(certificate: Certificate) -> bytes:
    """The certificate as a one-page A5 PDF, in Chinese (Noto Sans CJK SC, subset-embedded)."""
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format=(148, 210))  # A5
    pdf.set_title(f"城乡居民基本医疗保险参保凭证 {certificate.display_code}")
    pdf.set_author("canbao")
    pdf.set_creator("canbao")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.add_font("noto", fname=str(font_path()))
    width = pdf.w - 2 * pdf.l_margin
    pdf.set_font("noto", size=16)
    pdf.set_y(18)
    pdf.cell(width, 10, "城乡居民基本医疗保险参保凭证", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("noto", size=11)
    for label, value in certificate_lines(certificate):
        pdf.cell(32, 9, label, border="B")
        pdf.cell(width - 32, 9, value, border="B", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("noto", size=10)
    pdf.cell(width, 7, "验证码", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", size=18)
    pdf.cell(width, 11, certificate.display_code, align="C", border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("noto", size=9)
    issued = certificate.issued_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    note = (
        f"出具时间：{issued:%Y-%m-%d %H:%M}（北京时间）。医保经办机构可凭验证码在参保工作平台核验本凭证；"
        "参保状态以核验结果为准。身份证号码已隐去中间部分。"
    )
    pdf.multi_cell(width, 5, note)
    return bytes(pdf.output())
