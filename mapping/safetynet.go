package mapping

import (
	"fmt"
	"strings"
	"time"

	"hemopa/rules"
)

// vocabulary is the safety net's table (vocabulary.yaml).
type vocabulary struct {
	Terms []struct {
		Facts  []string `yaml:"facts"`
		Words  []string `yaml:"words"`
		Source string   `yaml:"source"`
	} `yaml:"terms"`
	Irrelevant []struct {
		Code string `yaml:"code"`
		Why  string `yaml:"why"`
	} `yaml:"irrelevant"`
}

// netTerm is one compiled term: lower-cased words and the facts they touch.
type netTerm struct {
	words []string
	facts []string
}

func (m *Mapper) loadVocabulary(facts map[string]*rules.FactInfo) error {
	b, _ := dataFS.ReadFile("vocabulary.yaml")
	var v vocabulary
	if err := decodeStrict("mapping/vocabulary.yaml", b, &v); err != nil {
		return err
	}
	m.irrelevant = map[string]bool{}
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
			nt.words = append(nt.words, strings.ToLower(w))
		}
		m.net = append(m.net, nt)
	}
	for i, ir := range v.Irrelevant {
		sys, code, ok := strings.Cut(ir.Code, "|")
		if !ok || ir.Why == "" {
			return fmt.Errorf("mapping/vocabulary.yaml: irrelevant[%d]: code as system|code and why are required", i)
		}
		m.irrelevant[m.codeKey(sys, code)] = true
	}
	return nil
}

// factsByText lists the facts whose safety-net words occur in text (any case,
// whole words), each once, in vocabulary order.
func (m *Mapper) factsByText(text string) []string {
	if text == "" {
		return nil
	}
	t := strings.ToLower(text)
	var out []string
	for _, nt := range m.net {
		for _, w := range nt.words {
			if hasWord(t, w) {
				for _, f := range nt.facts {
					if !contains(out, f) {
						out = append(out, f)
					}
				}
				break
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
