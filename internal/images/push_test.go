package images

import "testing"

func TestProgressStep(t *testing.T) {
	for _, c := range []struct{ size, want int64 }{
		{0, 1},
		{50, 1},
		{100, 1},
		{10_000, 100},
		{50 << 20, 512 << 10}, // 1 % would be 512 KiB and more
		{10 << 20, 104857},
	} {
		if got := progressStep(c.size); got != c.want {
			t.Errorf("progressStep(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}
