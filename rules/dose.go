package rules

import (
	"math"
	"strconv"

	"gopkg.in/yaml.v3"
)

// The dose family sets the weight-based dose from the newest exact body
// weight inside the policy's dose window.
func init() {
	register(&family{name: "dose", answers: map[test][]Kind{testDose: nil}, compile: compileDoseCheck, eval: (*evaluator).doseCheck, reads: readsNothing})
}

// readsNothing: the dose check reads the policy's dose weight, which
// FactWindows adds for every policy with a dose.
func readsNothing(*Check, func(string, Window)) {}

func compileDoseCheck(cc *checkCompiler, ck *Check, n *yaml.Node) {
	if ck.Fact != "" {
		cc.errorf(n.Line, "a dose check reads the policy's dose weight, not a fact")
	}
	if cc.p.Dose == nil {
		cc.l.add(cc.line, "criterion %s checks the dose but the policy has no dose", cc.id)
	}
}

func (e *evaluator) doseCheck(*Check) out {
	d := e.p.Dose
	dw := e.weight()
	since := e.sinceText(d.window)
	w := dw.w
	switch {
	case dw.other != nil:
		return blocked("conflicting body weights"+dated(*dw.stuck)+": "+e.fmtValue(*dw.stuck)+" ("+dw.stuck.Source+"), "+e.fmtValue(*dw.other)+" ("+dw.other.Source+")",
			"Body weight"+since+" — the weights"+dated(*dw.stuck)+" disagree ("+dw.stuck.Source+", "+dw.other.Source+")")
	case dw.stuck != nil && !dw.stuck.Readable():
		return blocked("latest "+e.unreadable(dw.stuck, "body weight"), problemLine(dw.stuck))
	case dw.stuck != nil && dw.stuck.HasNum:
		return blocked("body weight "+e.fmtValue(*dw.stuck)+dated(*dw.stuck)+" is not exact: it cannot set a dose",
			"Body weight"+since+" as an exact value ("+dw.stuck.Source+" gives "+e.fmtValue(*dw.stuck)+")")
	case dw.stuck != nil:
		return out{res: Unknown, blocked: true, reason: "latest " + e.unreadable(dw.stuck, "body weight"), needs: []Need{{Text: "Body weight" + since}}}
	case w == nil:
		return out{res: Unknown, reason: "no body weight" + since + " to dose by", needs: []Need{{Text: "Body weight" + since}}}
	}
	vg := d.VGPerKg * w.Num
	reason := fmtNum(d.VGPerKg) + " vg/kg × " + fmtNum(w.Num) + " kg = " + fmtNum(vg) + " vg (" + fmtNum(vg/d.VGPerML) + " mL)"
	if d.kits != nil {
		k := d.kit(w.Num)
		if k == nil {
			first, last := d.kits.Rows[0], d.kits.Rows[len(d.kits.Rows)-1]
			return out{res: Unknown, reason: "weight " + fmtNum(w.Num) + " kg is outside the kit table (" + fmtNum(first.MinKg) + "–" + fmtNum(last.MaxKg) + " kg): cannot be approved automatically",
				evidence: e.evidence(w.Source), needs: []Need{{Text: "manual dose review: weight outside the kit table"}}}
		}
		reason += "; kit of " + strconv.Itoa(k.Vials) + " vials, NDC " + k.NDC
	}
	return out{res: Met, reason: reason, evidence: e.evidence(w.Source)}
}

// doseWeight is the body weight a dose is set from: the newest exact,
// readable weight inside the dose window. When the newest weight cannot set
// a dose, stuck says why: it cannot be read, it is a bound (">70 kg"), or
// the weights of that day disagree (other).
type doseWeight struct {
	w, stuck, other *Value
}

func (e *evaluator) weight() doseWeight {
	d := e.p.Dose
	if d == nil {
		return doseWeight{}
	}
	ck := &Check{Fact: "weight", Window: d.window}
	best, found, blocker := e.newest(ck, hasNum, always)
	if blocker != nil {
		return doseWeight{stuck: blocker}
	}
	if !found {
		return doseWeight{}
	}
	vals := e.f["weight"]
	start := e.start(d.window)
	var w *Value
	for i := range vals {
		v := &vals[i]
		if !e.inWindow(v, d.window, start) || !hasNum(v) || !v.Date.Equal(best) {
			continue
		}
		if w == nil {
			w = v
		} else if v.Num != w.Num || v.Comparator != w.Comparator {
			return doseWeight{stuck: w, other: v}
		}
	}
	if w.Comparator != "" {
		return doseWeight{stuck: w}
	}
	return doseWeight{w: w}
}

// kit is the row of the kit table that provides for the dose of a kg-weight
// patient: the first row whose weight range reaches kg and, where the row
// gives its volume, whose kit holds the dose volume. A weight between two
// rows (50.4 kg, between 46–50 and 51–55 kg) takes the larger kit: the
// smaller one is short of the dose (100 mL for 100.8 mL). Below the first row
// or beyond the last there is no kit (manual dose review).
func (d *DoseRule) kit(kg float64) *KitRow {
	if d.kits == nil || len(d.kits.Rows) == 0 || kg < d.kits.Rows[0].MinKg {
		return nil
	}
	need := kg * d.VGPerKg / d.VGPerML // mL
	for i, row := range d.kits.Rows {
		if kg > row.MaxKg {
			continue
		}
		if row.VolumeML > 0 && row.VolumeML < need-volumeSlack {
			continue // a kit that cannot hold the dose does not provide for it
		}
		return &d.kits.Rows[i]
	}
	return nil
}

// volumeSlack absorbs floating-point error when a kit's volume is compared
// with the dose volume (50 kg × 2 mL/kg is exactly the 100-mL kit).
const volumeSlack = 1e-9

func (e *evaluator) dose() *Dose {
	w := e.weight().w
	if w == nil {
		return nil
	}
	d := e.p.Dose
	vg := d.VGPerKg * w.Num
	out := &Dose{WeightKg: round(w.Num, 2), VectorGenomes: vg, VolumeML: round(vg/d.VGPerML, 1)}
	if k := d.kit(w.Num); k != nil {
		out.Kit = &Kit{NDC: k.NDC, Vials: k.Vials}
	}
	return out
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

// compileDose compiles a policy's dose: section.
func (c *Catalog) compileDose(l *lintErrs, n *yaml.Node) *DoseRule {
	l.checkKeys(n, "dose", "vg_per_kg", "vg_per_ml", "kits", "window", "citation")
	d := &DoseRule{}
	if err := n.Decode(d); err != nil {
		l.add(n.Line, "dose: %v", err)
	}
	if d.VGPerKg <= 0 || d.VGPerML <= 0 {
		l.add(n.Line, "dose needs positive vg_per_kg and vg_per_ml")
	}
	if d.Kits != "" {
		switch d.kits = c.Kits[d.Kits]; {
		case d.kits == nil:
			l.add(n.Line, "unknown kit table %q", d.Kits)
		case len(d.kits.Rows) == 0:
			l.add(n.Line, "kit table %q has no rows", d.Kits)
			d.kits = nil
		}
	}
	if d.Window != "" {
		w, err := ParseWindow(d.Window)
		if err != nil {
			l.add(n.Line, "dose: %v", err)
		}
		d.window = w
	}
	return d
}
