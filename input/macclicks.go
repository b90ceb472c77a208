package input

import "time"

// clickCounter numbers presses for macOS' click state (the
// kCGMouseEventClickState field): applications see a double click only
// when the second press says 2. Presses of the same button within
// macDoubleClick and macClickSlop points of the previous one count up,
// as the system does for physical clicks (its default interval is 0.5 s).
// Pure, so it is tested everywhere.
type clickCounter struct {
	last time.Time
	btn  Button
	x, y int
	n    int
}

const (
	macDoubleClick = 500 * time.Millisecond
	macClickSlop   = 4
)

// down records a press and returns its click count (1, 2, 3, ...).
func (c *clickCounter) down(b Button, x, y int, now time.Time) int {
	if c.n > 0 && b == c.btn && now.Sub(c.last) <= macDoubleClick && now.Sub(c.last) >= 0 &&
		abs(x-c.x) <= macClickSlop && abs(y-c.y) <= macClickSlop {
		c.n++
	} else {
		c.n = 1
	}
	c.last, c.btn, c.x, c.y = now, b, x, y
	return c.n
}

// count is the click count the release of the last press carries.
func (c *clickCounter) count() int { return max(c.n, 1) }

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
