package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// cookieName holds the token in the browser once it has been given in
// the URL, so that the URL printed at start is needed once.
const cookieName = "shoal_ui_token"

// NewToken returns a fresh random token (256 bits, URL-safe).
func NewToken() string {
	return rand.Text() + rand.Text()
}

// guard lets a request through when it presents token: as the token
// query parameter (then it is set as a cookie and the browser is sent to
// the same URL without it, so it does not stay in the address bar or the
// history), as that cookie, or as "Authorization: Bearer TOKEN". The
// cookie is HttpOnly and SameSite=Strict: another site's page cannot
// make the browser send it, which is what stops cross-site writes and
// DNS rebinding. An empty token lets every request through.
func guard(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("token") {
			if !equal(q.Get("token"), token) {
				denied(w, "the token in the URL is not this UI's")
				return
			}
			http.SetCookie(w, &http.Cookie{
				Name: cookieName, Value: token, Path: "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
			})
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		if c, err := r.Cookie(cookieName); err == nil && equal(c.Value, token) {
			next.ServeHTTP(w, r)
			return
		}
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(v, token) {
			next.ServeHTTP(w, r)
			return
		}
		denied(w, "open the URL with the token that `shoal daemon --ui-addr` or `shoal ui` printed")
	})
}

func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func denied(w http.ResponseWriter, why string) {
	w.Header().Set("Cache-Control", "no-store")
	writeError(w, http.StatusUnauthorized, "Shoal UI: "+why)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
