package mapping

import (
	"fmt"
	"strings"
	"time"

	"hemopa/rules"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// vocabulary is the safety net's table (vocabulary.yaml).
type vocabulary struct {
	Terms []struct {
		Facts  []string `yaml:"facts"`
		Words  []string `yaml:"words"`
		Unless []string `yaml:"unless"`
		Source string   `yaml:"source"`
	} `yaml:"terms"`
	Units []struct {
		Unit   string   `yaml:"unit"`
		Facts  []string `yaml:"facts"`
		Unless []string `yaml:"unless"`
		Source string   `yaml:"source"`
	} `yaml:"units"`
	Irrelevant []struct {
		Code string `yaml:"code"`
		Why  string `yaml:"why"`
	} `yaml:"irrelevant"`
	IrrelevantTypes []struct {
		Type string `yaml:"type"`
		Why  string `yaml:"why"`
	} `yaml:"irrelevant_types"`
}

// netTerm is one compiled term: lower-cased words and the facts they touch.
// unless lists phrases that contain a word but mean something else ("platelet
// poor plasma"): an occurrence inside one of them does not count.
type netTerm struct {
	words  []string
	unless []string
	facts  []string
}

// netUnit is a value shape: a result in this (UCUM) unit could affect facts
// whatever its code, unless its text names something else.
type netUnit struct {
	unit   string
	unless []string
	facts  []string
}

func (m *Mapper) loadVocabulary(facts map[string]*rules.FactInfo) error {
	b, _ := dataFS.ReadFile("vocabulary.yaml")
	var v vocabulary
	if err := decodeStrict("mapping/vocabulary.yaml", b, &v); err != nil {
		return err
	}
	m.irrelevant = map[string]bool{}
	m.netFirst = map[string]bool{}
	for i, t := range v.Terms {
		if len(t.Words) == 0 || len(t.Facts) == 0 || t.Source == "" {
			return fmt.Errorf("mapping/vocabulary.yaml: terms[%d]: words, facts and source are required", i)
		}
		nt := netTerm{facts: t.Facts}
		for _, f := range t.Facts {
			if facts[f] == nil {
				return fmt.Errorf("mapping/vocabulary.yaml: terms[%d]: unknown fact %q", i, f)
			}
		}
		for _, w := range t.Words {
			w = strings.ToLower(w)
			nt.words = append(nt.words, w)
			if tok := firstToken(w); tok != "" {
				m.netFirst[tok] = true
			} else {
				m.netAlways = true
			}
		}
		for _, w := range t.Unless {
			nt.unless = append(nt.unless, strings.ToLower(w))
		}
		m.net = append(m.net, nt)
	}
	for i, u := range v.Units {
		if u.Unit == "" || len(u.Facts) == 0 || u.Source == "" {
			return fmt.Errorf("mapping/vocabulary.yaml: units[%d]: unit, facts and source are required", i)
		}
		for _, f := range u.Facts {
			if facts[f] == nil {
				return fmt.Errorf("mapping/vocabulary.yaml: units[%d]: unknown fact %q", i, f)
			}
		}
		nu := netUnit{unit: strings.ToLower(u.Unit), facts: u.Facts}
		for _, w := range u.Unless {
			nu.unless = append(nu.unless, strings.ToLower(w))
		}
		m.netUnits = append(m.netUnits, nu)
	}
	for i, ir := range v.Irrelevant {
		sys, code, ok := strings.Cut(ir.Code, "|")
		if !ok || ir.Why == "" {
			return fmt.Errorf("mapping/vocabulary.yaml: irrelevant[%d]: code as system|code and why are required", i)
		}
		m.irrelevant[m.codeKey(sys, code)] = true
	}
	m.irrelevantTypes = map[string]bool{}
	for i, it := range v.IrrelevantTypes {
		if it.Type == "" || it.Why == "" {
			return fmt.Errorf("mapping/vocabulary.yaml: irrelevant_types[%d]: type and why are required", i)
		}
		if readers[it.Type] != nil {
			return fmt.Errorf("mapping/vocabulary.yaml: irrelevant_types[%d]: %s has a reader: it cannot be irrelevant", i, it.Type)
		}
		m.irrelevantTypes[it.Type] = true
	}
	return nil
}

// unreadType reports whether resources of this type are read by no reader
// and not known to be irrelevant: the safety net reads all their text.
func (m *Mapper) unreadType(typ string) bool {
	return readers[typ] == nil && !m.irrelevantTypes[typ]
}

// mapOther accounts for a resource of a type no reader reads: relevant words
// anywhere in its text make the facts they name unreadable (undated, so they
// count in every window); otherwise it is irrelevant.
func (c *mapCall) mapOther(e *entry) bool {
	text := resourceText(e.res)
	facts := c.m.factsByText(text)
	if len(facts) == 0 {
		return false
	}
	c.unreadable(e, facts, "", "is a "+e.typ+" that names what the policies read, and hemopa does not read "+e.typ+
		" — review it, or record the finding as a coded resource", time.Time{})
	return true
}

// skipText are fields whose strings are identifiers, not text a person reads.
var skipText = map[protoreflect.Name]bool{"id": true, "system": true, "url": true, "meta": true, "identifier": true, "version": true}

// resourceText is every string a person reads in a resource (texts,
// displays, codes, narrative), space-separated; identifiers, systems and
// references are left out.
func resourceText(cr *bcrpb.ContainedResource) string {
	var b strings.Builder
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message())
				}
			case fd.IsList() || fd.IsMap():
			case fd.Kind() == protoreflect.MessageKind && !skipText[fd.Name()]:
				if v.Message().Descriptor().Name() == "Reference" {
					// Only what a person reads: a reference's ids are not text.
					if d := v.Message().Descriptor().Fields().ByName("display"); d != nil && v.Message().Has(d) {
						walk(v.Message().Get(d).Message())
					}
					return true
				}
				walk(v.Message())
			case fd.Kind() == protoreflect.StringKind && fd.Name() == "value":
				b.WriteString(v.String())
				b.WriteByte(' ')
			}
			return true
		})
	}
	walk(cr.ProtoReflect())
	return b.String()
}

// factsByText lists the facts whose safety-net words occur in text (any case,
// whole words, not inside one of the term's unless phrases), each once, in
// vocabulary order.
func (m *Mapper) factsByText(text string) []string {
	if text == "" {
		return nil
	}
	t := strings.ToLower(text)
	if !m.mayMatch(t) {
		return nil
	}
	var out []string
	for i := range m.net {
		nt := &m.net[i]
		if nt.matches(t) {
			for _, f := range nt.facts {
				if !contains(out, f) {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// anyWord reports whether any safety-net term matches text (the decode
// filter's question: cheaper than listing the facts).
func (m *Mapper) anyWord(text string) bool {
	if strings.TrimSpace(text) == "" {
		return false
	}
	t := strings.ToLower(text)
	if !m.mayMatch(t) {
		return false
	}
	for i := range m.net {
		if m.net[i].matches(t) {
			return true
		}
	}
	return false
}

// firstToken is a word's leading run of letters and digits: a whole-word
// occurrence of the word starts with a token of the text equal to it.
func firstToken(w string) string {
	for i := 0; i < len(w); i++ {
		if !isWordByte(w[i]) {
			return w[:i]
		}
	}
	return w
}

// mayMatch is the cheap pre-check: does any token of t start a vocabulary
// word? Most texts (vital signs, chemistry) share no token with it.
func (m *Mapper) mayMatch(t string) bool {
	if m.netAlways {
		return true
	}
	for i := 0; i < len(t); {
		for i < len(t) && !isWordByte(t[i]) {
			i++
		}
		j := i
		for j < len(t) && isWordByte(t[j]) {
			j++
		}
		if j > i && m.netFirst[t[i:j]] {
			return true
		}
		i = j
	}
	return false
}

func (nt *netTerm) matches(t string) bool {
	for _, w := range nt.words {
		if hasWord(t, w) && !maskedEverywhere(t, w, nt.unless) {
			return true
		}
	}
	return false
}

// maskedEverywhere reports whether every whole-word occurrence of w in t lies
// inside an occurrence of one of the unless phrases.
func maskedEverywhere(t, w string, unless []string) bool {
	if len(unless) == 0 {
		return false
	}
	for i := 0; ; {
		j := strings.Index(t[i:], w)
		if j < 0 {
			return true
		}
		j += i
		end := j + len(w)
		if (j == 0 || !isWordByte(t[j-1])) && (end == len(t) || !isWordByte(t[end])) && !inside(t, j, end, unless) {
			return false
		}
		i = j + 1
	}
}

// inside reports whether t[j:end] lies within an occurrence of a phrase.
func inside(t string, j, end int, phrases []string) bool {
	for _, p := range phrases {
		for k := 0; k < len(t); {
			x := strings.Index(t[k:], p)
			if x < 0 {
				break
			}
			x += k
			if x <= j && end <= x+len(p) {
				return true
			}
			k = x + 1
		}
	}
	return false
}

// factsByUnit lists the facts a value in this unit could affect (the safety
// net's value shapes), unless text names something else.
func (m *Mapper) factsByUnit(unit, text string) []string {
	if unit == "" {
		return nil
	}
	u := strings.ToLower(unit)
	t := strings.ToLower(text)
	var out []string
	for _, nu := range m.netUnits {
		if nu.unit != u {
			continue
		}
		skip := false
		for _, w := range nu.unless {
			if hasWord(t, w) {
				skip = true
			}
		}
		if skip {
			continue
		}
		for _, f := range nu.facts {
			if !contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// hasWord reports whether w occurs in t with no letter or digit either side.
func hasWord(t, w string) bool {
	for i := 0; ; {
		j := strings.Index(t[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !isWordByte(t[j-1])) && (end == len(t) || !isWordByte(t[end])) {
			return true
		}
		i = j + 1
	}
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// knownIrrelevant reports whether any coding is on the vocabulary's list of
// codes that look relevant but are not.
func (m *Mapper) knownIrrelevant(codings []coding) bool {
	for _, cd := range codings {
		if m.irrelevant[m.codeKey(cd.system, cd.code)] {
			return true
		}
	}
	return false
}

// unreadable records relevant evidence that could not be read: one unreadable
// value per fact, so every criterion that reads one of them is unknown until
// the record is corrected or mapped. text is what the record calls the item;
// problem completes the sentence "<source> "<text>" <problem>", e.g.
// `unit "KPA" not understood — correct or map it (--codemap)`.
func (c *mapCall) unreadable(e *entry, facts []string, text, problem string, date time.Time) {
	for _, f := range facts {
		c.add(f, rules.Value{Source: e.ref(), Text: text, Problem: problem, Date: date})
	}
	if len(facts) > 0 {
		c.chart.Unreadable++
	}
}
