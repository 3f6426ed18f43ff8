package ui

import (
	"bufio"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/apitls"
)

// fakeAPI records the path it was asked for and answers it; /events
// streams a line at a time.
func fakeAPI(t *testing.T) (http.Handler, *[]string) {
	var seen []string
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		if r.URL.Path == "/events" {
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"Type":"service","Action":"create"}` + "\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		w.Write([]byte(`[]`))
	}), &seen
}

func TestAccess(t *testing.T) {
	const token = "s3cret"
	api, _ := fakeAPI(t)
	h := New(Config{API: api, Token: token})
	for _, tc := range []struct {
		name       string
		url        string
		header     http.Header
		cookie     string
		wantStatus int
	}{
		{name: "nothing", url: "/", wantStatus: 401},
		{name: "nothing/api", url: "/api/nodes", wantStatus: 401},
		{name: "nothing/asset", url: "/app.js", wantStatus: 401},
		{name: "wrong token in URL", url: "/?token=nope", wantStatus: 401},
		{name: "wrong cookie", url: "/api/nodes", cookie: "nope", wantStatus: 401},
		{name: "wrong bearer", url: "/api/nodes", header: http.Header{"Authorization": {"Bearer nope"}}, wantStatus: 401},
		{name: "token as basic", url: "/api/nodes", header: http.Header{"Authorization": {"Basic " + token}}, wantStatus: 401},
		{name: "token in URL", url: "/?token=" + token, wantStatus: 303},
		{name: "cookie", url: "/api/nodes", cookie: token, wantStatus: 200},
		{name: "cookie/asset", url: "/app.js", cookie: token, wantStatus: 200},
		{name: "bearer", url: "/api/nodes", header: http.Header{"Authorization": {"Bearer " + token}}, wantStatus: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.url, nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: cookieName, Value: tc.cookie})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("GET %s: got %d, want %d (%s)", tc.url, w.Code, tc.wantStatus, w.Body)
			}
		})
	}
}

func TestTokenInURLBecomesCookie(t *testing.T) {
	api, _ := fakeAPI(t)
	h := New(Config{API: api, Token: "s3cret"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/?token=s3cret&x=1", nil))
	if loc := w.Header().Get("Location"); loc != "/?x=1" {
		t.Errorf("redirect to %q, want /?x=1 (the token out of the address bar)", loc)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != cookieName || cs[0].Value != "s3cret" || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies %+v, want one HttpOnly SameSite=Strict %s", cs, cookieName)
	}
}

func TestNoTokenIsOpen(t *testing.T) {
	api, _ := fakeAPI(t)
	w := httptest.NewRecorder()
	New(Config{API: api}).ServeHTTP(w, httptest.NewRequest("GET", "/api/nodes", nil))
	if w.Code != 200 {
		t.Fatalf("got %d, want 200", w.Code)
	}
}

func TestProxy(t *testing.T) {
	for _, tc := range []struct {
		method, url string
		wantStatus  int
		wantSeen    string // what the API was asked, "" for nothing
	}{
		{"GET", "/api/nodes", 200, "GET /nodes"},
		{"GET", "/api/v1.47/tasks?filters=%7B%7D", 200, "GET /v1.47/tasks?filters=%7B%7D"},
		{"HEAD", "/api/_ping", 200, "HEAD /_ping"},
		{"POST", "/api/nodes/abc/update?version=3", 200, "POST /nodes/abc/update?version=3"},
		{"POST", "/api/v1.47/nodes/abc/update?version=3", 200, "POST /v1.47/nodes/abc/update?version=3"},
		{"POST", "/api/containers/create", 403, ""},
		{"POST", "/api/nodes/abc/update/x", 403, ""},
		{"POST", "/api/services/abc/update", 403, ""},
		{"DELETE", "/api/nodes/abc", 403, ""},
		{"PUT", "/api/containers/abc/archive", 403, ""},
	} {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			api, seen := fakeAPI(t)
			w := httptest.NewRecorder()
			New(Config{API: api}).ServeHTTP(w, httptest.NewRequest(tc.method, tc.url, nil))
			if w.Code != tc.wantStatus {
				t.Fatalf("got %d, want %d (%s)", w.Code, tc.wantStatus, w.Body)
			}
			got := strings.Join(*seen, ",")
			if got != tc.wantSeen {
				t.Fatalf("API asked %q, want %q", got, tc.wantSeen)
			}
		})
	}
}

func TestUpgradeRefused(t *testing.T) {
	api, seen := fakeAPI(t)
	r := httptest.NewRequest("GET", "/api/containers/x/attach/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	w := httptest.NewRecorder()
	New(Config{API: api}).ServeHTTP(w, r)
	if w.Code != 403 || len(*seen) != 0 {
		t.Fatalf("got %d, API asked %v; want 403 and nothing asked", w.Code, *seen)
	}
}

// The event stream reaches the page line by line, not when it ends.
func TestProxyStreams(t *testing.T) {
	api, _ := fakeAPI(t)
	srv := httptest.NewServer(New(Config{API: api, Token: "tok"}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(resp.Body).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if !strings.Contains(l, `"create"`) {
			t.Fatalf("got %q, want the first event", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not come through while the stream was open")
	}
}

func TestAssets(t *testing.T) {
	api, _ := fakeAPI(t)
	h := New(Config{API: api})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<script type="module" src="app.js">`) {
		t.Fatalf("GET /: %d %.200s", w.Code, w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q, want default-src 'self' (nothing from elsewhere)", csp)
	}
	// Every module the page imports is embedded: each relative import
	// of each module, the vendored ones too.
	files := Assets()
	want := []string{"app.js"}
	mods, _ := fs.Glob(files, "*.js")
	vendored, _ := fs.Glob(files, "vendor/*.mjs")
	mods = append(mods, vendored...)
	remote := regexp.MustCompile(`(from|import)\s*\(?\s*["'](https?:)?//`)
	rel := regexp.MustCompile(`from ?['"]\./([a-z/]+\.m?js)['"]`)
	for _, m := range mods {
		src, _ := fs.ReadFile(files, m)
		for _, im := range rel.FindAllStringSubmatch(string(src), -1) {
			want = append(want, path.Join(path.Dir(m), im[1]))
		}
	}
	for _, f := range want {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/"+f, nil))
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
			t.Errorf("GET /%s: %d %q, want 200 JavaScript", f, w.Code, w.Header().Get("Content-Type"))
		}
		if remote.MatchString(w.Body.String()) {
			t.Errorf("%s imports from a URL: the page loads nothing from elsewhere", f)
		}
	}
}

func TestNeedsToken(t *testing.T) {
	if !NeedsToken(apitls.Addr{Network: "tcp", Address: "127.0.0.1:8080"}) || NeedsToken(apitls.Addr{Network: "unix", Address: "/run/ui.sock"}) {
		t.Fatal("every TCP address needs a token (loopback too), a unix socket none")
	}
}

func TestURL(t *testing.T) {
	ln, err := Listen(apitls.Addr{Network: "tcp", Address: "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	u, err := url.Parse(URL(ln, "http", "tok"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" || u.Query().Get("token") != "tok" {
		t.Fatalf("URL %s: want 127.0.0.1 and the token", u)
	}
}

func TestNewToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || len(a) < 40 {
		t.Fatalf("tokens %q and %q: want long and different", a, b)
	}
}
