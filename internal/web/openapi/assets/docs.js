'use strict';
// Renders the server's OpenAPI document with Swagger UI. The document is
// fetched from this server (relative, so a path prefix in front of the
// server works too); nothing is sent anywhere else (no validator badge).
(function () {
  var loading = document.getElementById('loading');
  if (typeof window.SwaggerUIBundle !== 'function') {
    loading.textContent = 'Swagger UI did not load: run `make node-deps` and rebuild the server. ' +
      'The document itself is at /openapi.json.';
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: new URL('../../openapi.json', window.location.href).toString(),
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    onComplete: function () { loading.hidden = true; }
  });
})();
