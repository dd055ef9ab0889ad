"""The staff portal: pages, the JSON API under /api/v1 and the OpenAPI description at /api/docs (issue 14).

A thin face over canbao.services: routes parse, call a service with the signed-in `Staff`, the clock and the
engine, and render. Every script, style and font is served from canbao/web/static (county networks have no
internet)."""
