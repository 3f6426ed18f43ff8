package container

import (
	"testing"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
)

func policy(name containertypes.RestartPolicyMode, max int) containertypes.RestartPolicy {
	return containertypes.RestartPolicy{Name: name, MaximumRetryCount: max}
}

func TestAfterExit(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name      string
		p         containertypes.RestartPolicy
		exit      Exit
		stopped   bool
		count     int
		lastDelay time.Duration
		want      Restart
	}{
		{"no", policy("no", 0), Exit{Code: 1}, false, 0, 0, Restart{}},
		{"unset", policy("", 0), Exit{Code: 1}, false, 0, 0, Restart{}},
		{"always after success", policy("always", 0), Exit{Code: 0}, false, 0, 0, Restart{true, 100 * ms}},
		{"always stopped by hand", policy("always", 0), Exit{Code: 0}, true, 0, 0, Restart{}},
		{"unless-stopped", policy("unless-stopped", 0), Exit{Code: 137}, false, 3, 0, Restart{true, 100 * ms}},
		{"unless-stopped stopped by hand", policy("unless-stopped", 0), Exit{Code: 137}, true, 0, 0, Restart{}},
		{"on-failure success", policy("on-failure", 0), Exit{Code: 0}, false, 0, 0, Restart{}},
		{"on-failure failure", policy("on-failure", 0), Exit{Code: 3}, false, 50, 0, Restart{true, 100 * ms}},
		{"on-failure:2 first", policy("on-failure", 2), Exit{Code: 3}, false, 0, 0, Restart{true, 100 * ms}},
		{"on-failure:2 second", policy("on-failure", 2), Exit{Code: 3}, false, 1, 100 * ms, Restart{true, 200 * ms}},
		{"on-failure:2 used up", policy("on-failure", 2), Exit{Code: 3}, false, 2, 200 * ms, Restart{}},
		{"backoff doubles", policy("always", 0), Exit{Ran: time.Second}, false, 4, 800 * ms, Restart{true, 1600 * ms}},
		{"backoff caps at a minute", policy("always", 0), Exit{Ran: time.Second}, false, 20, 50 * time.Second, Restart{true, time.Minute}},
		{"a long run resets the backoff", policy("always", 0), Exit{Ran: 10 * time.Second}, false, 20, time.Minute, Restart{true, 100 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AfterExit(tt.p, tt.exit, tt.stopped, tt.count, tt.lastDelay); got != tt.want {
				t.Fatalf("AfterExit = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOnBoot(t *testing.T) {
	tests := []struct {
		name    string
		p       containertypes.RestartPolicy
		started bool
		stopped bool
		code    int
		count   int
		want    bool
	}{
		{"no", policy("no", 0), true, false, 137, 0, false},
		{"always", policy("always", 0), true, false, 255, 0, true},
		{"always stopped by hand comes back", policy("always", 0), true, true, 0, 0, true},
		{"always never started", policy("always", 0), false, false, 0, 0, false},
		{"unless-stopped", policy("unless-stopped", 0), true, false, 0, 0, true},
		{"unless-stopped stopped by hand", policy("unless-stopped", 0), true, true, 0, 0, false},
		{"on-failure failed", policy("on-failure", 0), true, false, 1, 0, true},
		{"on-failure succeeded", policy("on-failure", 0), true, false, 0, 0, false},
		{"on-failure used up", policy("on-failure", 1), true, false, 1, 1, false},
		{"on-failure stopped by hand", policy("on-failure", 0), true, true, 137, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OnBoot(tt.p, tt.started, tt.stopped, tt.code, tt.count); got != tt.want {
				t.Fatalf("OnBoot = %v, want %v", got, tt.want)
			}
		})
	}
}
