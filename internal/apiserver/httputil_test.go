package apiserver

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestBoolValue(t *testing.T) {
	for raw, want := range map[string]bool{
		"": false, "0": false, "false": false, "False": false, "no": false, "none": false,
		"1": true, "true": true, "True": true, "yes": true,
	} {
		r := httptest.NewRequest("GET", "/services?status="+raw, nil)
		if got := boolValue(r, "status"); got != want {
			t.Errorf("status=%q: got %v, want %v", raw, got, want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.41", "1.56", -1},
		{"1.56", "1.56", 0},
		{"1.6", "1.56", -1},
		{"1.100", "1.56", 1},
		{"2", "1.56", 1},
		{"1.24.0", "1.24", 0},
	}
	for _, tt := range tests {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%s, %s) got %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		{"1700000000.000000001", time.Unix(1700000000, 1)},
		{"2026-05-06T07:08:09Z", time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseTimestamp(tt.in)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTimestamp(%q) got %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseTimestamp("yesterday"); err == nil {
		t.Error("parseTimestamp(yesterday) got no error")
	}
}

func TestPathAction(t *testing.T) {
	tests := []struct{ in, name, action string }{
		{"busybox/json", "busybox", "json"},
		{"localhost:5000/team/app:v1/json", "localhost:5000/team/app:v1", "json"},
		{"busybox", "busybox", ""},
	}
	for _, tt := range tests {
		if name, action := pathAction(tt.in); name != tt.name || action != tt.action {
			t.Errorf("pathAction(%q) got %q, %q; want %q, %q", tt.in, name, action, tt.name, tt.action)
		}
	}
}
