"""The portal's pages (Jinja2 templates in web/templates, assets in web/static) and the API's documentation.

The pages are thin: a route renders the page's frame for the signed-in member of staff (their name, area and
menu, the session's CSRF token for the browser's script), and the page's script fetches its data from the
JSON API under /api/v1, which does the scoping.  No route here calls a service.  Everything the browser loads
is served by canbao itself (no CDN, no web font): the portal works on a county's network without internet.

| path              | page                                                                   |
|-------------------|------------------------------------------------------------------------|
| /login            | 登录 (posts JSON to /api/v1/login; then ?next= or /)                    |
| /                 | 工作台 (GET /api/v1/benefit-years, GET /api/v1/progress; ECharts chart) |
| /persons          | 人员查询 (GET /api/v1/persons?q=)                                       |
| /persons/{id}     | a person's page (GET /api/v1/persons/{id}; county roles reveal the ID) |
| /submissions      | 名单报送 (GET /api/v1/submissions; POST /api/v1/submissions/{kind})       |
| /jobs, /jobs/{id} | 任务 and one job: progress, result, row results, files, rerun, import-valid |
| /lists            | 催缴清单 and 入户排查 downloads (GET /api/v1/lists/due, /lists/not-renewed) |
| /season           | 开征 (POST /api/v1/season/open)                                         |
| /payment-files    | 缴费文件入账 (POST /api/v1/payment-files)                                |
| /reconcile        | 对账 (POST /api/v1/reconciliations)                                     |
| /users            | 用户管理 (GET/POST /api/v1/users, POST …/users/{u}/disable|enable|password) |
| /audit            | 审计日志 (GET /api/v1/audit)                                            |
| /funds            | 资金核算 (GET /api/v1/funds, /funds/workbook)                           |
| /rewards          | 考核奖惩 (GET /api/v1/rewards, /rewards/workbook)                       |
| /cleanup          | 重复/无效参保清理 (POST /api/v1/cleanup → the job's page)               |
| /county-subsidy   | 先缴后补 退补 (GET /api/v1/county-subsidy, POST /county-subsidy/record)  |
| /api/docs         | Swagger UI over /api/openapi.json (swagger-ui-bundle; static/docs.js)   |
| /api/docs/openapi-3.0.json | the same description as OpenAPI 3.0 (Swagger UI 4 reads no 3.1) |
| /static/…         | canbao's CSS, script and the vendored ECharts                          |
| /static/swagger-ui/… | Swagger UI's files                                                  |
| /static/fonts/…   | Noto Sans CJK SC (mplfonts), for a machine with no Chinese font          |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from canbao.services.access import COUNTY_ROLES, Staff
from canbao.web.deps import live_session, page_staff, safe_next

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC_URL = "/static"
SWAGGER_URL = "/static/swagger-ui"
CJK_FONT = "NotoSansCJKsc-Regular.otf"
DOCS_OPENAPI_URL = "/api/docs/openapi-3.0.json"

# The pages load scripts, styles, fonts and data from the portal only (no inline script; ECharts sets inline
# styles), and are never framed by another site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)
PageStaff = Annotated[Staff, Depends(page_staff)]


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    roles: frozenset[str]


ALL_ROLES = frozenset({"county_admin", "tax", "township", "village", "school", "department"})
DASHBOARD_ROLES = frozenset({"county_admin", "tax", "township", "village"})
ADMIN = frozenset({"county_admin"})
SENDERS = frozenset({"county_admin", "department", "school"})
LIST_ROLES = frozenset({"county_admin", "tax", "township", "village"})
NAV: tuple[NavItem, ...] = (
    NavItem("/", "工作台", DASHBOARD_ROLES),
    NavItem("/persons", "人员查询", ALL_ROLES),
    NavItem("/submissions", "名单报送", SENDERS),
    NavItem("/lists", "催缴清单", LIST_ROLES),
    NavItem("/season", "开征", ADMIN),
    NavItem("/payment-files", "缴费入账", COUNTY_ROLES),
    NavItem("/reconcile", "对账", COUNTY_ROLES),
    NavItem("/county-subsidy", "先缴后补退补", frozenset({"county_admin", "tax", "township"})),
    NavItem("/funds", "资金核算", COUNTY_ROLES),
    NavItem("/rewards", "考核奖惩", ADMIN),
    NavItem("/cleanup", "参保清理", ADMIN),
    NavItem("/jobs", "任务", SENDERS | COUNTY_ROLES),
    NavItem("/users", "用户管理", ADMIN),
    NavItem("/audit", "审计日志", ADMIN),
    NavItem("/api/docs", "接口文档", COUNTY_ROLES),
)
# The pages over the API's other calls: (path, template, title). Each is shown to any signed-in member of staff
# who asks for it by its address; the API refuses what the role may not do, and the page says so.
SIMPLE_PAGES: tuple[tuple[str, str, str], ...] = (
    ("/submissions", "submissions.html", "名单报送"),
    ("/jobs", "jobs.html", "任务"),
    ("/lists", "lists.html", "催缴清单与入户排查"),
    ("/season", "season.html", "开征"),
    ("/payment-files", "payment_files.html", "缴费文件入账"),
    ("/reconcile", "reconcile.html", "对账"),
    ("/users", "users.html", "用户管理"),
    ("/audit", "audit.html", "审计日志"),
    ("/funds", "funds.html", "资金核算"),
    ("/rewards", "rewards.html", "考核奖惩"),
    ("/cleanup", "cleanup.html", "重复参保及无效参保清理"),
    ("/county-subsidy", "county_subsidy.html", "先缴后补退补"),
)


def nav_for(staff: Staff) -> list[NavItem]:
    """The menu of a role: only what the role works on (the API refuses the rest anyway)."""
    return [item for item in NAV if staff.role in item.roles]


def mount_assets(app: FastAPI) -> None:
    """canbao's own assets and Swagger UI's, served by the portal (called by create_app)."""
    import swagger_ui_bundle  # type: ignore[import-untyped]

    app.mount(SWAGGER_URL, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="static")


def _page(request: Request, template: str, staff: Staff | None, title: str, **context: object) -> HTMLResponse:
    csrf = getattr(request.state, "csrf_token", "") or ""
    values: dict[str, object] = {
        "title": title,
        "staff": staff,
        "area": staff.area_label if staff is not None else "",
        "nav": nav_for(staff) if staff is not None else [],
        "csrf_token": csrf,
        "county_wide": staff is not None and staff.county_wide,
        "path": request.url.path,
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, template, values)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """The login form; after it, the page the browser was sent here from (`next`: a path of this portal)."""
    target = safe_next(next)
    return _page(request, "login.html", None, "登录", next_path="/" if target.startswith("/login") else target)


@router.get("/", response_class=HTMLResponse)
def dashboard_page(request: Request, staff: PageStaff) -> Response:
    if staff.role not in DASHBOARD_ROLES:  # schools and departments have no progress dashboard
        return RedirectResponse("/persons", status_code=303)
    return _page(request, "dashboard.html", staff, "工作台")


@router.get("/persons", response_class=HTMLResponse)
def persons_page(request: Request, staff: PageStaff) -> HTMLResponse:
    return _page(request, "persons.html", staff, "人员查询")


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_page(request: Request, person_id: int, staff: PageStaff) -> HTMLResponse:
    return _page(request, "person.html", staff, "人员详情", person_id=person_id)


def _simple(template: str, title: str) -> Any:
    def page(request: Request, staff: PageStaff) -> HTMLResponse:
        return _page(request, template, staff, title)

    return page


for _path, _template, _title in SIMPLE_PAGES:
    router.add_api_route(_path, _simple(_template, _title), methods=["GET"], response_class=HTMLResponse)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: int, staff: PageStaff) -> HTMLResponse:
    return _page(request, "job.html", staff, f"任务 {job_id}", job_id=job_id)


@router.get(f"{STATIC_URL}/fonts/{{name}}")
def font(name: str) -> Response:
    """The one font the portal may need (see canbao.css): Noto Sans CJK SC from the mplfonts package."""
    import mplfonts

    if name != CJK_FONT:
        return Response(status_code=404)
    path = Path(mplfonts.__file__).parent / "fonts" / CJK_FONT
    return FileResponse(path, media_type="font/otf", headers={"Cache-Control": "public, max-age=604800"})


@router.get("/favicon.ico")
def favicon() -> Response:
    return RedirectResponse(f"{STATIC_URL}/favicon.svg", status_code=308)


@router.get(DOCS_OPENAPI_URL)
def docs_openapi(request: Request) -> JSONResponse:
    """/api/openapi.json (OpenAPI 3.1, the API's description) as OpenAPI 3.0 for Swagger UI 4, which the
    swagger-ui-bundle package ships and which cannot read 3.1: same paths and schemas."""
    app: FastAPI = request.app
    return JSONResponse(openapi_3_0(app.openapi()))


def openapi_3_0(document: dict[str, Any]) -> dict[str, Any]:
    """The 3.1 constructs FastAPI writes, in 3.0 words: a null alternative as `nullable`, `const` as a
    one-value `enum`, a schema's `examples` list as its `example`, numeric exclusive bounds as booleans."""
    converted = _to_3_0(document)
    assert isinstance(converted, dict)
    converted["openapi"] = "3.0.3"
    return converted


def _to_3_0(node: Any) -> Any:
    if isinstance(node, list):
        return [_to_3_0(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_3_0(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            out["nullable"] = True
            if len(rest) == 1:
                del out[key]
                if "$ref" in rest[0]:
                    out["allOf"] = rest
                else:
                    out = {**rest[0], **out}
            else:
                out[key] = rest
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        out["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("examples"), list) and out["examples"] and "type" in out:
        out["example"] = out.pop("examples")[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out.get(bound), bool):
            out[plain] = out[bound]
            out[bound] = True
    return out


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI from canbao's own static mount (static/docs.js): the browser loads nothing from outside.
    Signed in, the page carries the session's CSRF token, which 试一下 sends with a request that changes data."""
    staff = live_session(request)
    return _page(request, "api_docs.html", staff, "canbao 工作人员门户 — 接口文档", openapi_url=DOCS_OPENAPI_URL)
