package filters

import (
	"testing"

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
