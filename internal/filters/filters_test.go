package filters

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string][]string
		wantErr bool
	}{
		{"empty", "", map[string][]string{}, false},
		{"map form", `{"name":{"web":true},"label":{"a=b":true,"c":true}}`, map[string][]string{"name": {"web"}, "label": {"a=b", "c"}}, false},
		{"map form false value dropped", `{"name":{"web":false}}`, map[string][]string{"name": {}}, false},
		{"list form", `{"name":["web","db"]}`, map[string][]string{"name": {"db", "web"}}, false},
		{"not json", `name=web`, nil, true},
		{"wrong shape", `{"name":"web"}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.in)
			if tt.wantErr {
				if !errdefs.Is(err, errdefs.KindInvalid) {
					t.Fatalf("got err %v, want an invalid-argument error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, a.Map()); diff != "" {
				t.Errorf("filters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	a, err := Parse(`{"name":["we"],"id":["abc"],"label":["stack","tier=front"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Prefix("name", "web") || a.Prefix("name", "db") {
		t.Error("name prefix: got a wrong match for web or db")
	}
	if !a.Exact("mode", "anything") {
		t.Error("a filter not given must match")
	}
	if a.Exact("id", "abcdef") || !a.Exact("id", "abc") {
		t.Error("id exact: got a wrong match")
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"all present", map[string]string{"stack": "x", "tier": "front"}, true},
		{"wrong value", map[string]string{"stack": "x", "tier": "back"}, false},
		{"missing key", map[string]string{"tier": "front"}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := a.Labels("label", tt.labels); got != tt.want {
			t.Errorf("%s: Labels got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	a := New([2]string{"name", "x"}, [2]string{"bogus", "y"})
	err := a.Validate("name", "id")
	if err == nil || err.Error() != "invalid filter 'bogus'" || !errdefs.Is(err, errdefs.KindInvalid) {
		t.Fatalf("got %v, want invalid filter 'bogus'", err)
	}
	if err := New([2]string{"id", "x"}).Validate("name", "id"); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

func TestUntil(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "", want: time.Time{}},
		{in: "1h", want: now.Add(-time.Hour)},
		{in: "1700000000", want: time.Unix(1700000000, 0)},
		{in: "1700000000.5", want: time.Unix(1700000000, 5e8)},
		{in: "2025-06-01T00:00:00Z", want: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)},
		{in: "yesterday", wantErr: `invalid until filter "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var f Args
			if tt.in != "" {
				f = New([2]string{"until", tt.in})
			}
			got, err := f.Until(now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Until(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("Until(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNotLabels(t *testing.T) {
	labels := map[string]string{"tier": "web", "team": "a"}
	tests := []struct {
		name string
		f    Args
		want bool
	}{
		{name: "no filter", want: true},
		{name: "key present", f: New([2]string{"label!", "tier"}), want: false},
		{name: "key absent", f: New([2]string{"label!", "zone"}), want: true},
		{name: "value matches", f: New([2]string{"label!", "tier=web"}), want: false},
		{name: "value differs", f: New([2]string{"label!", "tier=db"}), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.NotLabels("label!", labels); got != tt.want {
				t.Errorf("NotLabels = %v, want %v", got, tt.want)
			}
		})
	}
}
