package rules

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

type lintErrs struct {
	file string
	errs []error
}

func (l *lintErrs) add(line int, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s:%d: %s", l.file, line, fmt.Sprintf(format, args...)))
}

// checkKeys reports mapping keys outside allowed.
func (l *lintErrs) checkKeys(n *yaml.Node, what string, allowed ...string) {
	if n.Kind != yaml.MappingNode {
		l.add(n.Line, "%s must be a mapping", what)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, a := range allowed {
			if k.Value == a {
				ok = true
				break
			}
		}
		if !ok {
			l.add(k.Line, "unknown key %q in %s", k.Value, what)
		}
	}
}

func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func str(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}
