package migrate

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"0002_more.sql":  {Data: []byte("two")},
		"0010_ten.sql":   {Data: []byte("ten")},
		"0001_init.sql":  {Data: []byte("one")},
		"README.md":      {Data: []byte("not a migration")},
		"0003_c.sql":     {Data: []byte("3")},
		"0004_d.sql":     {Data: []byte("4")},
		"0005_e.sql":     {Data: []byte("5")},
		"0006_f.sql":     {Data: []byte("6")},
		"0007_g.sql":     {Data: []byte("7")},
		"0008_h.sql":     {Data: []byte("8")},
		"0009_i.sql":     {Data: []byte("9")},
		"sub/0011_x.sql": {Data: []byte("ignored")},
	}
	ms, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 10 {
		t.Fatalf("Load returned %d migrations, want 10", len(ms))
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d", i, m.Version)
		}
	}
	if ms[0].Name != "0001_init.sql" || ms[0].SQL != "one" || ms[9].SQL != "ten" {
		t.Errorf("Load = %+v", ms)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"0001_a.sql": {}, "0003_c.sql": {}},
		"duplicate": {"0001_a.sql": {}, "0001_b.sql": {}, "0002_c.sql": {}},
		"zero":      {"0000_a.sql": {}},
		"no number": {"init.sql": {}},
		"bad":       {"01x_a.sql": {}},
	} {
		if _, err := Load(fsys); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}
