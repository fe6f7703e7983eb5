package disco

import (
	"cmp"
	"crypto/sha1" // #nosec G505 -- XEP-0115 §5.1 mandates SHA-1 for the verification string.
	"encoding/base64"
	"slices"
	"strings"

	"dormouse.im/dormouse/xml"
)

// CapsVer returns the XEP-0115 verification string (§5.1, hash sha-1) of a
// disco#info <query/> element: its identities sorted by category, type,
// xml:lang (and name), then its features, then its XEP-0128 forms sorted by
// FORM_TYPE, each with its fields sorted by var and their values sorted,
// every item followed by '<', hashed with SHA-1 and encoded in base64.
//
// The factors are the unescaped character data and attribute values, so a
// literal "&lt;" in a name stays those four characters (the XEP's note on
// '&lt;'), and '<' can only come from the separators. Forms without a
// hidden FORM_TYPE field are ignored, as §5.4 asks of a processing entity.
// All sorting is bytewise ("i;octet").
func CapsVer(query *xml.Element) string {
	type identity struct{ category, typ, lang, name string }
	var ids []identity
	var features []string
	type field struct {
		v      string
		values []string
	}
	type form struct {
		typ    string
		fields []field
	}
	var forms []form
	for _, c := range query.Elements() {
		switch {
		case c.Name.Space == NSInfo && c.Name.Local == "identity":
			ids = append(ids, identity{c.AttrValue("category"), c.AttrValue("type"), lang(c), c.AttrValue("name")})
		case c.Name.Space == NSInfo && c.Name.Local == "feature":
			features = append(features, c.AttrValue("var"))
		case c.Name.Space == NSData && c.Name.Local == "x":
			var f form
			ok := false
			for _, fe := range c.ChildrenNamed(NSData, "field") {
				var values []string
				for _, v := range fe.ChildrenNamed(NSData, "value") {
					values = append(values, v.Text())
				}
				if fe.AttrValue("var") == "FORM_TYPE" {
					if fe.AttrValue("type") == "hidden" && len(values) > 0 {
						f.typ, ok = values[0], true
					}
					continue
				}
				slices.Sort(values)
				f.fields = append(f.fields, field{fe.AttrValue("var"), values})
			}
			if ok {
				slices.SortFunc(f.fields, func(a, b field) int { return strings.Compare(a.v, b.v) })
				forms = append(forms, f)
			}
		}
	}
	slices.SortFunc(ids, func(a, b identity) int {
		return cmp.Or(strings.Compare(a.category, b.category), strings.Compare(a.typ, b.typ),
			strings.Compare(a.lang, b.lang), strings.Compare(a.name, b.name))
	})
	slices.Sort(features)
	slices.SortFunc(forms, func(a, b form) int { return strings.Compare(a.typ, b.typ) })

	var s strings.Builder
	for _, id := range ids {
		s.WriteString(id.category)
		s.WriteByte('/')
		s.WriteString(id.typ)
		s.WriteByte('/')
		s.WriteString(id.lang)
		s.WriteByte('/')
		s.WriteString(id.name)
		s.WriteByte('<')
	}
	for _, f := range features {
		s.WriteString(f)
		s.WriteByte('<')
	}
	for _, f := range forms {
		s.WriteString(f.typ)
		s.WriteByte('<')
		for _, fe := range f.fields {
			s.WriteString(fe.v)
			s.WriteByte('<')
			for _, v := range fe.values {
				s.WriteString(v)
				s.WriteByte('<')
			}
		}
	}
	sum := sha1.Sum([]byte(s.String())) // #nosec G401 -- see the import.
	return base64.StdEncoding.EncodeToString(sum[:])
}

// lang returns the xml:lang attribute of e.
func lang(e *xml.Element) string {
	for _, a := range e.Attr {
		if a.Name.Space == xml.NSXML && a.Name.Local == "lang" {
			return a.Value
		}
	}
	return ""
}
