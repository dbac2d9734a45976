package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed facts.yaml attestations.yaml kits.yaml record.yaml policies/*.yaml
var builtinFS embed.FS

// vocabulary are the files of a policy directory that are not policies: the
// facts a policy may read, the attestation questions, the kit tables and the
// guards every policy carries. A directory that lacks one uses the built-in
// file.
var vocabulary = []string{"facts.yaml", "attestations.yaml", "kits.yaml", "record.yaml"}

// Builtin is the policy directory compiled into the binary: the vocabulary
// files and policies/*.yaml. Load(Builtin()) is the product's default catalog.
func Builtin() fs.FS { return builtinFS }

// Catalog is the set of compiled policies with the facts, attestations and kit
// tables they use. A catalog is immutable once loaded and safe to share.
type Catalog struct {
	Policies     []*Policy
	Facts        map[string]*FactInfo
	Attestations []Attestation
	Kits         map[string]*KitTable
	byID         map[string]*Policy
	units        unitTexts // facts' unit_text by unit

	record     *yaml.Node // record.yaml: the guards every policy carries
	recordFile string     // its name in lint messages
	dir        string     // the directory's name in messages
}

// LoadOption configures Load and Lint.
type LoadOption func(*loadConfig)

type loadConfig struct {
	name string // prefix of file names in messages
}

// Named sets the name a directory's files carry in error messages, e.g. the
// path given on the command line. The built-in directory is named "rules".
func Named(dir string) LoadOption { return func(c *loadConfig) { c.name = dir } }

// Load compiles a policy directory. Policy files are the *.yaml files at its
// top and in policies/ (vocabulary files excepted); facts.yaml,
// attestations.yaml, kits.yaml and record.yaml, where present, replace the
// built-in ones. Any problem Lint would report is an error: a catalog is
// complete or not loaded.
func Load(fsys fs.FS, opts ...LoadOption) (*Catalog, error) {
	c, errs := load(fsys, opts)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(c.Policies) == 0 {
		return nil, fmt.Errorf("%s: no policy files (*.yaml or policies/*.yaml)", c.recordDir())
	}
	return c, nil
}

// Lint compiles a policy directory as Load does and returns every problem as
// "file:line: message", so that what lints clean is exactly what loads.
func Lint(fsys fs.FS, opts ...LoadOption) []error {
	c, errs := load(fsys, opts)
	if len(errs) == 0 && len(c.Policies) == 0 {
		errs = append(errs, fmt.Errorf("%s: no policy files (*.yaml or policies/*.yaml)", c.recordDir()))
	}
	return errs
}

func (c *Catalog) recordDir() string {
	if c.dir == "" {
		return "policy directory"
	}
	return c.dir
}

func load(fsys fs.FS, opts []LoadOption) (*Catalog, []error) {
	cfg := loadConfig{}
	if fsys == fs.FS(builtinFS) {
		cfg.name = "rules"
	}
	for _, o := range opts {
		o(&cfg)
	}
	name := func(n string) string {
		if cfg.name == "" {
			return n
		}
		return path.Join(cfg.name, n)
	}
	vocab := vocabFS{fsys: fsys, name: name}
	c, err := newCatalog(vocab)
	if err != nil {
		return &Catalog{dir: cfg.name}, []error{err}
	}
	c.dir = cfg.name
	files := map[string][]byte{}
	var errs []error
	for _, pattern := range []string{"*.yaml", "policies/*.yaml"} {
		names, err := fs.Glob(fsys, pattern)
		if err != nil {
			return c, []error{err}
		}
		for _, n := range names {
			if pattern == "*.yaml" && isVocabulary(n) {
				continue
			}
			b, err := fs.ReadFile(fsys, n)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name(n), err))
				continue
			}
			files[name(n)] = b
		}
	}
	return c, append(errs, c.addPolicies(files)...)
}

func isVocabulary(name string) bool {
	for _, v := range vocabulary {
		if name == v {
			return true
		}
	}
	return false
}

// vocabFS reads a vocabulary file from the directory, or the built-in one
// where the directory has none; where names the file for messages.
type vocabFS struct {
	fsys fs.FS
	name func(string) string
}

func (v vocabFS) read(file string) (data []byte, where string, err error) {
	b, err := fs.ReadFile(v.fsys, file)
	if err == nil {
		return b, v.name(file), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, v.name(file), fmt.Errorf("%s: %w", v.name(file), err)
	}
	b, err = builtinFS.ReadFile(file)
	return b, "rules/" + file, err
}

func newCatalog(v vocabFS) (*Catalog, error) {
	c := &Catalog{Facts: map[string]*FactInfo{}, Kits: map[string]*KitTable{}, byID: map[string]*Policy{}}
	var facts []*FactInfo
	where, err := v.readYAML("facts.yaml", &facts)
	if err != nil {
		return nil, err
	}
	for _, f := range facts {
		c.Facts[f.Name] = f
	}
	if c.units, err = unitTextsOf(facts, where); err != nil {
		return nil, err
	}
	if _, err := v.readYAML("attestations.yaml", &c.Attestations); err != nil {
		return nil, err
	}
	for _, a := range c.Attestations {
		c.Facts[AttestationFact(a.LinkID)] = &FactInfo{Name: AttestationFact(a.LinkID), Kind: KindAttestation, Label: "Prescriber attestation: " + a.Text}
	}
	if _, err := v.readYAML("kits.yaml", &c.Kits); err != nil {
		return nil, err
	}
	b, where, err := v.read("record.yaml")
	if err != nil {
		return nil, err
	}
	c.recordFile = where
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:1: want a list of criteria", where)
	}
	c.record = doc.Content[0]
	return c, nil
}

// readYAML decodes a vocabulary file and says which file it read.
func (v vocabFS) readYAML(file string, out any) (where string, err error) {
	b, where, err := v.read(file)
	if err != nil {
		return where, err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return where, fmt.Errorf("%s: %w", where, err)
	}
	return where, nil
}

// unitTextsOf gathers the facts' unit texts by unit; two facts may share a
// unit only if it reads the same.
func unitTextsOf(facts []*FactInfo, where string) (unitTexts, error) {
	t := unitTexts{}
	by := map[string]string{}
	for _, f := range facts {
		if f.UnitText == nil {
			continue
		}
		if f.Unit == "" {
			return nil, fmt.Errorf("%s: fact %s: unit_text without a unit", where, f.Name)
		}
		if prev, ok := t[f.Unit]; ok && prev != *f.UnitText {
			return nil, fmt.Errorf("%s: fact %s: unit %s reads %q, fact %s has it read %q", where, f.Name, f.Unit, *f.UnitText, by[f.Unit], prev)
		}
		t[f.Unit], by[f.Unit] = *f.UnitText, f.Name
	}
	return t, nil
}

// Lookup returns the policy with the id.
func (c *Catalog) Lookup(id string) (*Policy, error) {
	if p, ok := c.byID[id]; ok {
		return p, nil
	}
	ids := make([]string, len(c.Policies))
	for i, p := range c.Policies {
		ids[i] = p.ID
	}
	return nil, fmt.Errorf("unknown policy %q (known: %s)", id, strings.Join(ids, ", "))
}

// AttestationText is the question for a linkId ("" if unknown).
func (c *Catalog) AttestationText(linkID string) string {
	for _, a := range c.Attestations {
		if a.LinkID == linkID {
			return a.Text
		}
	}
	return ""
}

// addPolicies compiles files (name → YAML) in name order and adds them.
func (c *Catalog) addPolicies(files map[string][]byte) []error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	seen := map[string]string{}
	for _, name := range names {
		p, perrs := c.compile(name, files[name])
		errs = append(errs, perrs...)
		if p == nil {
			continue
		}
		if prev, dup := seen[p.ID]; dup {
			errs = append(errs, fmt.Errorf("%s:1: duplicate policy id %q (also in %s)", name, p.ID, prev))
			continue
		}
		seen[p.ID] = name
		if len(perrs) == 0 {
			c.Policies = append(c.Policies, p)
			c.byID[p.ID] = p
		}
	}
	return errs
}
