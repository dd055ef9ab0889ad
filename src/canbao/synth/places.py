"""The county's places: townships and their codes, villages and communities, schools; a neighbouring county."""

from __future__ import annotations

import random
from dataclasses import dataclass

from canbao.policy import list_policies, load_policy
from canbao.synth.randomness import Rng
from canbao.synth.tables import (
    COUNTY_NAMES,
    LINGBI,
    LINGBI_TOWNSHIPS,
    SURNAMES,
    TOWNSHIP_FIRST,
    TOWNSHIP_SECOND,
    URBAN_COMMUNITIES,
    VILLAGE_PREFIXES,
    VILLAGE_SUFFIXES,
    VILLAGE_WORDS,
)


@dataclass(frozen=True)
class Township:
    name: str
    code: str
    weight: int


@dataclass(frozen=True)
class Village:
    township_index: int
    township: str
    township_code: str
    name: str
    code: str
    weight: int


@dataclass(frozen=True)
class School:
    name: str
    township: str
    level: str  # kindergarten, primary, junior, senior, vocational


@dataclass(frozen=True)
class Geography:
    county: str
    county_name: str
    townships: list[Township]
    villages: list[Village]
    schools: list[School]


def name_stem(name: str) -> str:
    for suffix in ("街道", "镇", "乡", "县", "区", "市"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _county_name(county: str) -> str:
    if county in COUNTY_NAMES:
        return COUNTY_NAMES[county]
    for policy_id in list_policies():
        counties = load_policy(policy_id).region.counties
        if county in counties:
            return counties[county]
    r = random.Random(f"county-name/{county}")
    return r.choice(TOWNSHIP_FIRST) + r.choice("阳安平宁城山河丰远泉") + "县"


def _township_names(county: str, county_name: str, r: random.Random) -> list[str]:
    if county == LINGBI:
        return list(LINGBI_TOWNSHIPS)
    names = ["城关镇"]
    while len(names) < 19:
        name = r.choice(TOWNSHIP_FIRST) + r.choice(TOWNSHIP_SECOND) + ("镇" if r.random() < 0.8 else "乡")
        if name not in names and name_stem(name) != name_stem(county_name):
            names.append(name)
    return [*names, "经济开发区"]


def _village_names(township: str, seat: bool, r: random.Random) -> tuple[list[str], list[str]]:
    """(communities, villages) of a township, unique within it."""
    stem = name_stem(township)
    n_communities = 6 if seat else 3 if township == "经济开发区" else r.randint(1, 2)
    n_villages = 8 if seat else 4 if township == "经济开发区" else r.randint(10, 18)
    communities = [] if seat or township == "经济开发区" else [f"{stem}社区"]
    pool = list(URBAN_COMMUNITIES)
    r.shuffle(pool)
    for word in pool:
        if len(communities) >= n_communities:
            break
        communities.append(f"{word}社区")
    villages: list[str] = []
    surnames = [s for s, _ in SURNAMES[:60]]
    while len(villages) < n_villages:
        draw = r.random()
        if draw < 0.6:
            stem_ = r.choice(surnames) + r.choice(VILLAGE_SUFFIXES)
        elif draw < 0.8:
            stem_ = r.choice(VILLAGE_PREFIXES) + r.choice(surnames) + r.choice(VILLAGE_SUFFIXES)
        else:
            stem_ = r.choice(VILLAGE_WORDS)
        name = f"{stem_}村"
        if name not in villages and f"{stem_}社区" not in communities:
            villages.append(name)
    return communities, villages


def geography(county: str, rng: Rng) -> Geography:
    county_name = _county_name(county)
    r = rng.python("geography")
    townships: list[Township] = []
    villages: list[Village] = []
    names = _township_names(county, county_name, r)
    for t, name in enumerate(names):
        seat = t == 0
        code = county + ("400" if name == "经济开发区" else f"{100 + t:03d}")
        weight = 260 if seat else 45 if name == "经济开发区" else r.randint(70, 130)
        townships.append(Township(name, code, weight))
        communities, plain = _village_names(name, seat, r)
        local = [
            (c, f"{1 + k:03d}", r.randint(30, 60) if seat else r.randint(12, 22)) for k, c in enumerate(communities)
        ]
        local += [(v, f"{200 + k:03d}", r.randint(6, 14)) for k, v in enumerate(plain)]
        total = sum(w for _, _, w in local)
        for v_name, suffix, w in local:
            villages.append(Village(t, name, code, v_name, code + suffix, max(1, weight * w * 1000 // total)))
    county_stem = name_stem(county_name)
    schools: list[School] = []
    for township in townships:
        stem = f"{county_stem}经济开发区" if township.name == "经济开发区" else name_stem(township.name)
        schools += [
            School(f"{stem}中心幼儿园", township.name, "kindergarten"),
            School(f"{stem}中心小学", township.name, "primary"),
            School(f"{stem}初级中学", township.name, "junior"),
        ]
    seat_name = townships[0].name
    schools += [
        School(f"{county_stem}中学", seat_name, "senior"),
        School(f"{county_name}第一中学", seat_name, "senior"),
        School(f"{county_name}第二中学", seat_name, "senior"),
        School(f"{county_name}职业教育中心", seat_name, "vocational"),
    ]
    return Geography(county, county_name, townships, villages, schools)


def neighbour(county: str) -> str:
    others = sorted(c for c in COUNTY_NAMES if c != county)
    return min(others, key=lambda c: (abs(int(c) - int(county)), -int(c)))
