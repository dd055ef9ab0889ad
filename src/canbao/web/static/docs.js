/* /api/docs: Swagger UI over the API's description (data-openapi), from the portal's own copy, with no inline
   script.  试一下 (Try it out) sends what the portal's pages send: a request that changes data carries the
   session's CSRF token (X-CSRF-Token), the page's own, or the one a login or /api/v1/me tried here answered. */
(function () {
  "use strict";

  var root = document.getElementById("swagger-ui");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") || "" : "";

  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    requestInterceptor: function (request) {
      var method = (request.method || "GET").toUpperCase();
      if (token && method !== "GET" && method !== "HEAD") {
        request.headers["X-CSRF-Token"] = token;
      }
      return request;
    },
    responseInterceptor: function (response) {
      var body = response.body;
      if (body && typeof body.csrf_token === "string" && body.csrf_token) {
        token = body.csrf_token;
      }
      return response;
    },
  });
})();
