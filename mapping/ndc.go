package mapping

import "strings"

// National Drug Codes come in several spellings: the 10-digit NDC with dashes
// in a 4-4-2, 5-3-2 or 5-4-1 layout, and the 11-digit 5-4-2 form claims use
// (HIPAA), with or without dashes. ndcReadings turns any of them into the
// 11-digit form(s) it may stand for: one, except for a 10-digit code without
// dashes, which is ambiguous and yields the three readings. A code that is no
// NDC yields none.
func ndcReadings(code string) []string {
	code = strings.TrimSpace(code)
	if code == "" {
		return nil
	}
	if strings.ContainsAny(code, "- ") {
		parts := strings.FieldsFunc(code, func(r rune) bool { return r == '-' || r == ' ' })
		if len(parts) != 3 || !allDigits(parts...) {
			return nil
		}
		l, p, k := parts[0], parts[1], parts[2]
		switch {
		case len(l) == 5 && len(p) == 4 && len(k) == 2: // 11-digit with dashes
		case len(l) == 4 && len(p) == 4 && len(k) == 2:
			l = "0" + l
		case len(l) == 5 && len(p) == 3 && len(k) == 2:
			p = "0" + p
		case len(l) == 5 && len(p) == 4 && len(k) == 1:
			k = "0" + k
		default:
			return nil
		}
		return []string{l + p + k}
	}
	if !allDigits(code) {
		return nil
	}
	switch len(code) {
	case 11:
		return []string{code}
	case 10:
		return []string{
			"0" + code,                // 4-4-2
			code[:5] + "0" + code[5:], // 5-3-2
			code[:9] + "0" + code[9:], // 5-4-1
		}
	}
	return nil
}

// ndcProduct normalises a labeler-product code ("0053-0300", "63833-876",
// "63833-0876") or a full package NDC to the digits every 11-digit package
// code of it starts with: 9 digits (5-4) for a product, 11 for a package.
// Only dashed forms are accepted: a bare 8- or 9-digit product code is
// ambiguous.
func ndcProduct(code string) string {
	parts := strings.Split(strings.TrimSpace(code), "-")
	if len(parts) == 3 {
		if r := ndcReadings(code); len(r) == 1 {
			return r[0]
		}
		return ""
	}
	if len(parts) != 2 || !allDigits(parts...) {
		return ""
	}
	l, p := parts[0], parts[1]
	switch {
	case len(l) == 5 && len(p) == 4:
	case len(l) == 4 && len(p) == 4:
		l = "0" + l
	case len(l) == 5 && len(p) == 3:
		p = "0" + p
	default:
		return ""
	}
	return l + p
}

// ndcMatches reports whether an NDC as written matches a product or package
// code from products.yaml in any of its readings.
func ndcMatches(code, product string) bool {
	want := ndcProduct(product)
	if want == "" {
		return false
	}
	for _, r := range ndcReadings(code) {
		if strings.HasPrefix(r, want) {
			return true
		}
	}
	return false
}

func allDigits(ss ...string) bool {
	for _, s := range ss {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
	}
	return true
}
