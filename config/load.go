package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// EnvPrefix starts every environment variable Load reads.
const EnvPrefix = "DORMOUSE_"

// EnvTestPrefix starts environment variables reserved for test suites
// (for example DORMOUSE_TEST_POSTGRES_URL). Load ignores them instead of
// reporting them as unknown.
const EnvTestPrefix = "DORMOUSE_TEST_"

// Load returns the configuration: Default(), then the TOML file at path (if
// path is not empty), then the DORMOUSE_* variables of environ (a list of
// "NAME=value" as returned by os.Environ), then Validate.
//
// Unknown keys in the file and unknown DORMOUSE_* variables (other than
// DORMOUSE_TEST_*) are errors. Every error is or joins *Error values; see
// IsConfigError.
//
// Every problem is reported at once: unknown keys and variables do not hide
// invalid values elsewhere. Only a file that cannot be read or decoded stops
// Load before the environment and Validate.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	var errs []error
	if path != "" {
		unknown, err := decodeFile(path, &c)
		if err != nil {
			return Config{}, err
		}
		errs = append(errs, unknown)
	}
	errs = append(errs, applyEnv(&c, environ), c.Validate())
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeFile decodes the TOML file at path over c. It returns the unknown
// keys as unknownKeys (the rest of the file is decoded), and a file it cannot
// read or decode as err.
func decodeFile(path string, c *Config) (unknownKeys, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("read file: %v", err), Err: err}
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{
				Key: pe.LastKey,
				Msg: fmt.Sprintf("%s:%d: %s", path, pe.Position.Line, pe.Message),
				Err: err,
			}
		}
		// Type mismatches are plain errors: "toml: line 2 (last key "c2s.x"): incompatible types: ...".
		key, line, msg := splitTOMLError(err.Error())
		if line > 0 {
			return nil, &Error{Key: key, Msg: fmt.Sprintf("%s:%d: %s", path, line, msg), Err: err}
		}
		return nil, &Error{Key: key, Msg: fmt.Sprintf("%s: %s", path, msg), Err: err}
	}
	// Report an unknown table once, not each key in it too.
	undecoded := md.Undecoded()
	unknown := make(map[string]bool, len(undecoded))
	for _, k := range undecoded {
		unknown[k.String()] = true
	}
	var errs []error
outer:
	for _, k := range undecoded {
		for i := 1; i < len(k); i++ {
			if unknown[k[:i].String()] {
				continue outer
			}
		}
		errs = append(errs, &Error{Key: k.String(), Msg: "unknown key in " + path})
	}
	return errors.Join(errs...), nil
}

// splitTOMLError takes apart the message of a decoding error of
// github.com/BurntSushi/toml that is not a toml.ParseError:
// "toml: line N (last key "K"): MSG" or "toml: (last key "K"): MSG".
// It returns msg unchanged (without the "toml: " prefix) if the format
// differs.
func splitTOMLError(s string) (key string, line int, msg string) {
	msg = strings.TrimPrefix(s, "toml: ")
	rest := msg
	if r, ok := strings.CutPrefix(rest, "line "); ok {
		n, r2, ok := strings.Cut(r, " ")
		l, err := strconv.Atoi(n)
		if !ok || err != nil {
			return "", 0, msg
		}
		line, rest = l, r2
	}
	r, ok := strings.CutPrefix(rest, "(last key ")
	if !ok {
		return "", line, msg
	}
	q, after, ok := strings.Cut(r, "): ")
	if !ok {
		return "", line, msg
	}
	k, err := strconv.Unquote(q)
	if err != nil {
		return "", line, msg
	}
	return k, line, after
}

// envVar is one leaf setting reachable by an environment variable.
type envVar struct {
	key   string // TOML path, "c2s.listen"
	name  string // variable name, "DORMOUSE_C2S_LISTEN"
	index []int  // field index path into Config
}

// envVars lists every setting of Config with its variable name, derived from
// the toml tags: nested structs are sections, everything else is a leaf.
func envVars() []envVar {
	textUnmarshaler := reflect.TypeFor[encoding.TextUnmarshaler]()
	var out []envVar
	var walk func(t reflect.Type, keys []string, index []int)
	walk = func(t reflect.Type, keys []string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || tag == "-" {
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			k := append(slices.Clip(keys), tag)
			idx := append(slices.Clip(index), i)
			if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
				walk(f.Type, k, idx)
				continue
			}
			out = append(out, envVar{
				key:   strings.Join(k, "."),
				name:  EnvPrefix + strings.ToUpper(strings.Join(k, "_")),
				index: idx,
			})
		}
	}
	walk(reflect.TypeFor[Config](), nil, nil)
	return out
}

// applyEnv sets the settings named by DORMOUSE_* variables of environ, in
// order (a later duplicate wins).
func applyEnv(c *Config, environ []string) error {
	byName := make(map[string]envVar)
	for _, v := range envVars() {
		byName[v.name] = v
	}
	root := reflect.ValueOf(c).Elem()
	var errs []error
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || strings.HasPrefix(name, EnvTestPrefix) {
			continue
		}
		v, ok := byName[name]
		if !ok {
			msg := "unknown environment variable"
			if s := suggest(name, byName); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			errs = append(errs, &Error{Key: name, Msg: msg})
			continue
		}
		if err := setString(root.FieldByIndex(v.index), value); err != nil {
			errs = append(errs, &Error{Key: v.key, Msg: fmt.Sprintf("from %s: %v", name, err), Err: err})
		}
	}
	return errors.Join(errs...)
}

// suggest returns the known variable closest to name, if it is close.
func suggest(name string, known map[string]envVar) string {
	best, bestDist := "", 4
	for k := range known {
		if d := editDistance(name, k); d < bestDist || d == bestDist && k < best {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// setString parses s into v according to v's type. Lists are
// comma-separated; maps are comma-separated key=value pairs; surrounding
// spaces of items are trimmed and empty items dropped, so "" is an empty
// list or map.
func setString(v reflect.Value, s string) error {
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			return u.UnmarshalText([]byte(s))
		}
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (use true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid unsigned integer %q", s)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(f)
	case reflect.Slice:
		items := splitList(s)
		sl := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, it := range items {
			if err := setString(sl.Index(i), it); err != nil {
				return fmt.Errorf("item %d: %w", i+1, err)
			}
		}
		v.Set(sl)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, it := range splitList(s) {
			ks, vs, ok := strings.Cut(it, "=")
			ks = strings.TrimSpace(ks)
			if !ok || ks == "" {
				return fmt.Errorf("invalid map item %q (use key=value,key2=value2)", it)
			}
			k := reflect.New(v.Type().Key()).Elem()
			if err := setString(k, ks); err != nil {
				return fmt.Errorf("key %q: %w", ks, err)
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if err := setString(e, strings.TrimSpace(vs)); err != nil {
				return fmt.Errorf("value of %q: %w", ks, err)
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		return fmt.Errorf("cannot be set from the environment (type %s)", v.Type())
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for it := range strings.SplitSeq(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}
