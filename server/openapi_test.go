package main

import (
	"bytes"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/services/rtms"

	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/web/openapi"
	"github.com/zoomtoken/tokenserver/routes"
	"github.com/zoomtoken/tokenserver/services"
)

// Every HTTP response a test of this package receives from the server is
// checked against the OpenAPI document the server serves (openapi/openapi.json):
// the route and method must be in it (or the answer must be the document's
// NoRoute or MethodNotAllowed), the status declared for that operation, the
// content type declared for that status, and a JSON body valid against its
// schema, with no field the schema does not name (strict mode). So the
// document cannot drift from the server.
//
// The validator is github.com/pb33f/libopenapi-validator: OpenAPI 3.1 is its
// native model and it validates schemas as JSON Schema 2020-12, which 3.1
// documents are written in. kin-openapi only gained 3.1 recently, behind an
// opt-in 2020-12 validator.

// apiContract is the document, parsed once for the test binary.
type apiContract struct {
	v       validator.Validator
	model   *v3.Document
	opts    *config.ValidationOptions
	schemas schema_validation.SchemaValidator
}

// contractOptions: strict mode reports a response field the schema does
// not name; the headers every response may carry are not listed per route.
func contractOptions() []config.Option {
	return []config.Option{
		config.WithStrictMode(),
		config.WithStrictIgnoredHeadersExtra("X-Request-Id", "Cache-Control", "Pragma", "Content-Security-Policy",
			"X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Etag", "Allow", "Connection",
			"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
			"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age", "Vary",
			"Accept-Ranges", "Last-Modified", "Set-Cookie"),
	}
}

var loadContract = sync.OnceValues(func() (*apiContract, error) {
	return parseContract(openapi.Document())
})

func parseContract(spec []byte) (*apiContract, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	v, errs := validator.NewValidator(doc, contractOptions()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi.json: %v", errs)
	}
	return &apiContract{v: v, model: &m.Model, opts: config.NewValidationOptions(contractOptions()...),
		schemas: schema_validation.NewSchemaValidator()}, nil
}

// contract is the document, or the test fails.
func contract(t testing.TB) *apiContract {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatalf("the OpenAPI document does not load: %v", err)
	}
	return c
}

// check returns what is wrong with a response to req (empty: it is in the
// document). body is the whole body read.
func (c *apiContract) check(req *http.Request, status int, h http.Header, body []byte) []string {
	where := req.Method + " " + req.URL.Path + " → " + strconv.Itoa(status)
	item, errs, route := paths.FindPath(req, c.model, c.opts)
	switch {
	case item == nil:
		return c.checkAnyRoute(where+": the path is not in the document, and the answer is not its NoRoute", status, 404, "NoRoute", body)
	case len(errs) > 0:
		p := c.checkAnyRoute(where+": "+route+" has no "+req.Method+" in the document, and the answer is not its MethodNotAllowed", status, 405, "MethodNotAllowed", body)
		if p == nil {
			return nil
		}
		if c.checkAnyRoute("", status, 404, "NoRoute", body) == nil { // a route of another mode
			return nil
		}
		return p
	}
	resp := &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: req}
	var problems []string
	// The path found above, so that /docs/api and /docs/api/ stay two paths.
	if ok, verrs := c.v.GetResponseBodyValidator().ValidateResponseBodyWithPathItem(req, resp, item, route); !ok {
		for _, e := range verrs {
			problems = append(problems, where+" ("+route+"): "+describe(e))
		}
	}
	op := helpers.ExtractOperation(req, item)
	if op != nil && op.Responses != nil && req.Method != http.MethodHead && len(body) > 0 {
		if r := op.Responses.Codes.GetOrZero(strconv.Itoa(status)); r != nil && (r.Content == nil || r.Content.Len() == 0) {
			problems = append(problems, fmt.Sprintf("%s (%s): the answer has a body (%s) but the document declares none for %d",
				where, route, h.Get("Content-Type"), status))
		}
	}
	return problems
}

// checkAnyRoute checks an answer the document gives for any route (its
// x-any-route): the status and the body's schema.
func (c *apiContract) checkAnyRoute(what string, status, want int, name string, body []byte) []string {
	if status != want {
		return []string{fmt.Sprintf("%s (that is %d)", what, want)}
	}
	r := c.model.Components.Responses.GetOrZero(name)
	if r == nil {
		return []string{"the document has no components.responses." + name}
	}
	if r.Content == nil || r.Content.GetOrZero("application/json") == nil {
		return []string{"components.responses." + name + " has no application/json schema"}
	}
	mt := r.Content.GetOrZero("application/json")
	if mt.Schema == nil {
		return []string{"components.responses." + name + " has no application/json schema"}
	}
	if ok, errs := c.schemas.ValidateSchemaBytes(mt.Schema.Schema(), body); !ok {
		var out []string
		for _, e := range errs {
			out = append(out, what+": "+describe(e))
		}
		return out
	}
	return nil
}

func describe(e *liberrors.ValidationError) string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Reason != "" && e.Reason != e.Message {
		b.WriteString(": " + e.Reason)
	}
	for i, f := range e.SchemaValidationErrors {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.SchemaValidationErrors)-5)
			break
		}
		loc := f.FieldPath
		if loc == "" {
			loc = "/" + strings.Join(f.InstancePath, "/")
		}
		fmt.Fprintf(&b, "; field %s: %s", loc, f.Reason)
	}
	return b.String()
}

// checkContract checks one response the test received; a response that is
// not in the document fails the test.
func checkContract(t testing.TB, req *http.Request, status int, h http.Header, body []byte) {
	t.Helper()
	for _, p := range contract(t).check(req, status, h, body) {
		t.Errorf("response not in the OpenAPI document: %s\nbody: %.300s", p, body)
	}
}

// checkedResponse reads resp's body, checks the response against the
// document, and gives the body back to the caller unread.
func checkedResponse(t testing.TB, resp *http.Response) *http.Response {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	checkContract(t, resp.Request, resp.StatusCode, resp.Header, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// The document is valid OpenAPI 3.1, and GET /openapi.json serves exactly it.
func TestOpenAPIDocument(t *testing.T) {
	c := contract(t)
	if ok, errs := c.v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("openapi.json is not valid OpenAPI 3.1: %s", describe(e))
		}
	}
	if c.model.Version != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", c.model.Version)
	}
	for _, env := range []map[string]string{sandboxEnv(), zoomEnv(newSandbox(t, sandbox.Options{}))} {
		ts := startServer(t, nil, env)
		r := ts.do("GET", "/openapi.json", nil, nil)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("GET /openapi.json = %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		if r.Raw != string(openapi.Document()) {
			t.Error("GET /openapi.json is not the embedded document")
		}
		idx := ts.do("GET", "/", nil, nil)
		if _, ok := field(idx.Body, "endpoints", "GET /openapi.json").(string); !ok {
			t.Errorf("GET / does not list GET /openapi.json: %s", idx.Raw)
		}
	}
}

// Every route the engine registers, in every mode and configuration, is in
// the document with its method.
func TestOpenAPIEveryRoute(t *testing.T) {
	c := contract(t)
	stub := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	engine := routes.New(routes.Deps{
		Connections: (*services.Connections)(nil), SandboxTokens: (*gate.Authenticator)(nil),
		SandboxControls: stub, Demo: &routes.DemoFiles{}, Socket: stub, Metrics: stub,
		MeetingInfo: (*services.MeetingInfo)(nil), Webhooks: (*services.Webhooks)(nil), Awaits: (*awaits.Awaits)(nil),
		CallbackURLs: (*callbacks.URLs)(nil), Attendee: (*callbacks.Attendee)(nil), Console: stub,
		RTMS: (*rtms.RTMS)(nil),
	})
	var missing []string
	for _, r := range engine.Routes() {
		p := openAPIPath(r.Path)
		item := c.model.Paths.PathItems.GetOrZero(p)
		if item == nil {
			missing = append(missing, fmt.Sprintf("%s %s (as %s): no such path", r.Method, r.Path, p))
			continue
		}
		if _, ok := item.GetOperations().Get(strings.ToLower(r.Method)); !ok {
			missing = append(missing, fmt.Sprintf("%s %s (as %s): no %s operation", r.Method, r.Path, p, strings.ToLower(r.Method)))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("route not in the OpenAPI document: %s", m)
	}
	// And the other way: every operation of the document is a route.
	registered := map[string]bool{}
	for _, r := range engine.Routes() {
		registered[strings.ToLower(r.Method)+" "+openAPIPath(r.Path)] = true
	}
	for p, item := range c.model.Paths.PathItems.FromOldest() {
		for m := range item.GetOperations().KeysFromOldest() {
			if !registered[m+" "+p] && !servedBy(registered, m, p) {
				t.Errorf("the OpenAPI document describes %s %s, which the server does not route", strings.ToUpper(m), p)
			}
		}
	}
}

// openAPIPath is gin's path as the document writes it: :name is {name}; a
// catch-all (*name) is the prefix itself, whose files are described below it.
func openAPIPath(p string) string {
	if i := strings.Index(p, "*"); i >= 0 {
		return p[:i]
	}
	return regexp.MustCompile(`:([A-Za-z_]+)`).ReplaceAllString(p, "{$1}")
}

// servedBy: a document path below a catch-all route (/docs/api/{file}) is
// served by that route.
func servedBy(registered map[string]bool, method, p string) bool {
	for k := range registered {
		m, prefix, _ := strings.Cut(k, " ")
		if m == method && strings.HasSuffix(prefix, "/") && strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// Every error code the routes can answer (the codes of routes/errors.go's
// table and those written by routes directly) is in the document, under the
// status the table gives it.
func TestOpenAPIEveryErrorCode(t *testing.T) {
	c := contract(t)
	codes := errorCodes(t)
	if len(codes) < 10 {
		t.Fatalf("found only %d error codes in routes/: %v", len(codes), codes)
	}
	declared := map[string][]string{} // code → statuses whose error schema allows it
	for _, item := range c.model.Paths.PathItems.FromOldest() {
		for _, op := range item.GetOperations().FromOldest() {
			for status, r := range op.Responses.Codes.FromOldest() {
				if r.Content == nil {
					continue
				}
				if mt := r.Content.GetOrZero("application/json"); mt != nil && mt.Schema != nil {
					for _, code := range allowedCodes(mt.Schema.Schema()) {
						if !slices.Contains(declared[code], status) {
							declared[code] = append(declared[code], status)
						}
					}
				}
			}
		}
	}
	for _, name := range []string{"NoRoute", "MethodNotAllowed"} {
		r := c.model.Components.Responses.GetOrZero(name)
		for _, code := range allowedCodes(r.Content.GetOrZero("application/json").Schema.Schema()) {
			status := map[string]string{"NoRoute": "404", "MethodNotAllowed": "405"}[name]
			declared[code] = append(declared[code], status)
		}
	}
	enum := allowedCodes(c.model.Components.Schemas.GetOrZero("ErrorCode").Schema())
	for code, status := range codes {
		if !slices.Contains(enum, code) {
			t.Errorf("error code %q is not in components.schemas.ErrorCode", code)
		}
		if !slices.Contains(declared[code], strconv.Itoa(status)) {
			t.Errorf("error code %q (status %d) is in no %d response of the document (it is in %v)", code, status, status, declared[code])
		}
	}
}

// allowedCodes are the values the schema's code property may take: its
// const or enum, through allOf and $ref.
func allowedCodes(s *base.Schema) []string {
	if s == nil {
		return nil
	}
	var out []string
	if s.Enum != nil || s.Const != nil { // the ErrorCode schema itself
		out = append(out, values(s)...)
	}
	if s.Properties != nil {
		if p := s.Properties.GetOrZero("code"); p != nil {
			out = append(out, values(p.Schema())...)
		}
	}
	if len(out) > 0 && s.Properties != nil {
		return out // the error's own code narrows its allOf
	}
	for _, sub := range s.AllOf {
		out = append(out, allowedCodes(sub.Schema())...)
	}
	return out
}

func values(s *base.Schema) []string {
	if s == nil {
		return nil
	}
	var out []string
	if s.Const != nil {
		out = append(out, s.Const.Value)
	}
	for _, n := range s.Enum {
		out = append(out, n.Value)
	}
	if len(out) == 0 && s.Properties == nil && len(s.AllOf) == 0 {
		return nil
	}
	return out
}

// errorCodes reads routes/ for the codes it answers and their statuses:
// the keys of statusOf (apperr constants) and the codes passed to problem().
func errorCodes(t *testing.T) map[string]int {
	t.Helper()
	fset := token.NewFileSet()
	consts := map[string]string{}
	for _, p := range parseDir(t, fset, "internal/apperr") {
		ast.Inspect(p, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Values) == len(vs.Names) {
				for i, name := range vs.Names {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
			return true
		})
	}
	statuses := map[string]int{}
	for name, v := range map[string]int{"StatusBadRequest": 400, "StatusUnauthorized": 401, "StatusForbidden": 403,
		"StatusNotFound": 404, "StatusMethodNotAllowed": 405, "StatusRequestTimeout": 408, "StatusConflict": 409, "StatusRequestEntityTooLarge": 413,
		"StatusTooManyRequests": 429, "StatusInternalServerError": 500, "StatusBadGateway": 502,
		"StatusServiceUnavailable": 503, "StatusGatewayTimeout": 504} {
		statuses[name] = v
	}
	code := func(e ast.Expr) string {
		switch x := e.(type) {
		case *ast.SelectorExpr:
			return consts[x.Sel.Name]
		case *ast.BasicLit:
			s, _ := strconv.Unquote(x.Value)
			return s
		}
		return ""
	}
	status := func(e ast.Expr) int {
		if s, ok := e.(*ast.SelectorExpr); ok {
			return statuses[s.Sel.Name]
		}
		return 0
	}
	out := map[string]int{}
	for _, p := range parseDir(t, fset, "routes") {
		ast.Inspect(p, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.ValueSpec: // var statusOf = map[string]int{...}
				if len(x.Names) == 1 && x.Names[0].Name == "statusOf" {
					for _, el := range x.Values[0].(*ast.CompositeLit).Elts {
						kv := el.(*ast.KeyValueExpr)
						out[code(kv.Key)] = status(kv.Value)
					}
				}
			case *ast.CallExpr: // problem(c, status, code, msg)
				if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "problem" && len(x.Args) == 4 {
					if cd := code(x.Args[2]); cd != "" {
						out[cd] = status(x.Args[1])
					}
				}
			}
			return true
		})
	}
	delete(out, "")
	// ErrZoomTimeout answers zoom_unavailable with 504 (routes/errors.go's fail).
	return out
}

// parseDir parses the package's own files (not its tests) in ../dir.
func parseDir(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// The checker catches drift: a field the document does not name, a status
// it does not declare, a path it does not have, each with a message naming
// the route, the status and the field.
func TestOpenAPIContractCatchesDrift(t *testing.T) {
	c := contract(t)
	get := func(path string) *http.Request { r, _ := http.NewRequest("GET", "http://x"+path, nil); return r }
	json200 := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	live := `{"success":true,"status":"alive"}`
	if p := c.check(get("/api/live"), 200, json200, []byte(live)); len(p) > 0 {
		t.Fatalf("a good answer is refused: %v", p)
	}
	cases := []struct {
		name   string
		req    *http.Request
		status int
		body   string
		want   string
	}{
		{"undeclared field", get("/api/live"), 200, `{"success":true,"status":"alive","extra":1}`, "extra"},
		{"missing field", get("/api/live"), 200, `{"success":true}`, "status"},
		{"wrong value", get("/api/live"), 200, `{"success":true,"status":"dead"}`, "status"},
		{"undeclared status", get("/api/live"), 418, live, "418"},
		{"unknown path, not NoRoute", get("/nope"), 200, live, "/nope"},
		{"unknown path, NoRoute with a wrong code", get("/nope"), 404, `{"success":false,"error":"x","code":"forbidden"}`, "code"},
		{"error with an undeclared code", post("/api/meetings/start"), 403, `{"success":false,"error":"x","code":"internal"}`, "code"},
	}
	for _, tc := range cases {
		p := c.check(tc.req, tc.status, json200, []byte(tc.body))
		if len(p) == 0 {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(strings.Join(p, "\n"), tc.want) {
			t.Errorf("%s: the message does not name %q: %v", tc.name, tc.want, p)
		}
	}
	if p := c.check(get("/nope"), 404, json200, []byte(`{"success":false,"error":"x","code":"not_found"}`)); len(p) > 0 {
		t.Errorf("the NoRoute answer is refused: %v", p)
	}
	if p := c.check(get("/api/meetings/start"), 405, json200, []byte(`{"success":false,"error":"x","code":"method_not_allowed"}`)); len(p) > 0 {
		t.Errorf("the MethodNotAllowed answer is refused: %v", p)
	}
}

func post(path string) *http.Request {
	r, _ := http.NewRequest("POST", "http://x"+path, strings.NewReader("{}"))
	return r
}

// The page at /docs/api/ is served with Swagger UI's files from npm (or, in
// a build without them, a page that says how to fix that), under a strict
// CSP, in every mode.
func TestAPIDocsPage(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	h, err := openapi.New()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/docs/api", nil)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp = checkedResponse(t, resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/docs/api/" {
		t.Errorf("GET /docs/api = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page := ts.do("GET", "/docs/api/", nil, nil)
	if page.Status != 200 || page.Header.Get("Content-Security-Policy") != openapi.CSP {
		t.Fatalf("GET /docs/api/ = %d, CSP %q", page.Status, page.Header.Get("Content-Security-Policy"))
	}
	if strings.Contains(page.Raw, "<script>") || strings.Contains(page.Raw, " style=") {
		t.Error("the page has an inline script or style")
	}
	if !h.HasBundle() {
		if !strings.Contains(page.Raw, "make node-deps") {
			t.Errorf("built without Swagger UI, the page does not say how to fix it: %s", page.Raw)
		}
		t.Skip("built without Swagger UI's files: run `make node-deps` (make test does) to test the page with them")
	}
	for _, f := range []string{"docs.js", "docs.css", openapi.BundlePath, openapi.StylePath} {
		if !strings.Contains(page.Raw, `"`+f+`"`) {
			t.Errorf("the page does not load %s", f)
		}
		r := ts.do("GET", "/docs/api/"+f, nil, nil)
		if r.Status != 200 || len(r.Raw) == 0 {
			t.Errorf("GET /docs/api/%s = %d (%d bytes)", f, r.Status, len(r.Raw))
		}
	}
	if r := ts.do("GET", "/docs/api/vendor/README.md", nil, nil); r.Status != 404 {
		t.Errorf("the placeholder is served: %d", r.Status)
	}
	if r := ts.do("GET", "/docs/api/missing.html", nil, nil); r.Status != 404 {
		t.Errorf("missing.html is served by name: %d", r.Status)
	}
}
