"""canbao 参保: the yearly enrollment and contribution campaign of resident basic medical insurance."""

from canbao.quote import quote, refund_quote
from canbao.rules.engine import quote_frame

__all__ = ["quote", "quote_frame", "refund_quote"]
