// Renders the OpenAPI document named by #apidoc's data-spec-url with the vendored Redoc bundle.
(function () {
  var el = document.getElementById("apidoc");
  Redoc.init(el.getAttribute("data-spec-url"), {
    hideDownloadButton: false,
    expandResponses: "200",
    jsonSampleExpandLevel: 2,
    sortPropsAlphabetically: false,
    theme: {typography: {fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                         headings: {fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"}}}
  }, el);
})();
