package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is how far back a criterion looks from the as-of date.
type Window struct {
	Days, Months int
	Text         string
}

// IsZero reports an unbounded window (any time).
func (w Window) IsZero() bool { return w.Days == 0 && w.Months == 0 }

// Start is the first day inside the window for an as-of day.
func (w Window) Start(asOf time.Time) time.Time {
	return asOf.AddDate(0, -w.Months, -w.Days)
}

// ParseWindow reads "30d", "4w", "3mo" or "12mo".
func ParseWindow(s string) (Window, error) {
	var n int
	var err error
	switch {
	case strings.HasSuffix(s, "mo"):
		n, err = strconv.Atoi(strings.TrimSuffix(s, "mo"))
		if err == nil && n > 0 && n <= 120 {
			return Window{Months: n, Text: s}, nil
		}
	case strings.HasSuffix(s, "w"):
		n, err = strconv.Atoi(strings.TrimSuffix(s, "w"))
		if err == nil && n > 0 && n <= 520 {
			return Window{Days: 7 * n, Text: s}, nil
		}
	case strings.HasSuffix(s, "d"):
		n, err = strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err == nil && n > 0 && n <= 3650 {
			return Window{Days: n, Text: s}, nil
		}
	}
	return Window{}, fmt.Errorf("bad window %q (want e.g. 30d, 4w, 3mo)", s)
}

type sinceText struct {
	w     Window
	start time.Time
	s     string
}

// inWindow reports whether v is dated inside the window (and not after the
// as-of day). With no window every value counts, dated or not. An undated
// value that cannot be read counts inside every window: it may be the newest.
func (e *evaluator) inWindow(v *Value, w Window, start time.Time) bool {
	if v.Date.IsZero() {
		return w.IsZero() || !v.Readable()
	}
	if v.Date.After(e.asOf) {
		return false
	}
	return w.IsZero() || !v.Date.Before(start)
}

// window returns the cached start day and " dated on or after YYYY-MM-DD"
// text of a window (a policy uses a handful of windows).
func (e *evaluator) window(w Window) *sinceText {
	for i := range e.since {
		if e.since[i].w == w {
			return &e.since[i]
		}
	}
	st := w.Start(e.asOf)
	s := ""
	if !w.IsZero() {
		s = " dated on or after " + string(appendDate(nil, st))
	}
	e.since = append(e.since, sinceText{w: w, start: st, s: s})
	return &e.since[len(e.since)-1]
}

func (e *evaluator) sinceText(w Window) string { return e.window(w).s }

func (e *evaluator) start(w Window) time.Time { return e.window(w).start }

var windowRef = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// FactWindows reports, for every fact the policy reads, the widest window it
// reads it over; a zero Window means the whole record (a baseline, a history,
// a diagnosis). A fetcher uses it to ask a server for just what matters.
func (p *Policy) FactWindows() map[string]Window {
	out := map[string]Window{}
	widen := func(fact string, w Window) {
		prev, seen := out[fact]
		switch {
		case !seen:
			out[fact] = w
		case prev.IsZero() || w.IsZero():
			out[fact] = Window{}
		case w.Start(windowRef).Before(prev.Start(windowRef)):
			out[fact] = w
		}
	}
	var walk func(cs []*Criterion)
	walk = func(cs []*Criterion) {
		for _, c := range cs {
			if c.Check != nil {
				c.Check.reads(widen)
			}
			walk(c.Children)
		}
	}
	walk(p.Criteria)
	if p.Dose != nil {
		widen("weight", p.Dose.window)
	}
	return out
}

// reads reports the facts a check reads and over what window: its family's
// say (reads), or by default its fact over its window.
func (ck *Check) reads(read func(fact string, w Window)) {
	if ck.family != nil && ck.family.reads != nil {
		ck.family.reads(ck, read)
		return
	}
	if ck.Fact != "" {
		read(ck.Fact, ck.Window)
	}
}
