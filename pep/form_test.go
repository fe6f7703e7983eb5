package pep_test

import (
	"testing"

	"dormouse.im/dormouse/pep"
	"dormouse.im/dormouse/xml"
)

func TestParseFormAndApply(t *testing.T) {
	for i, tc := range []struct {
		form    string
		parse   bool // ParseForm succeeds
		apply   bool // Apply succeeds
		want    pep.NodeConfig
		matches bool // DefaultNodeConfig meets the fields
	}{
		0: {`<x xmlns='jabber:x:data' type='submit'/>`, true, true, pep.DefaultNodeConfig, true},
		1: {`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
			<field var='pubsub#access_model'><value>open</value></field></x>`, true, true,
			pep.NodeConfig{Access: "open", PersistItems: true, MaxItems: 1, SendLast: "on_sub_and_presence", NotifyRetract: true, NotifyDelete: true}, false},
		2: {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#persist_items'><value>true</value></field>
			<field var='pubsub#max_items'><value>max</value></field><field var='pubsub#send_last_published_item'><value>never</value></field>
			<field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#notify_retract'><value>0</value></field></x>`, true, true,
			pep.NodeConfig{Access: "whitelist", PersistItems: true, MaxItems: 0, SendLast: "never", NotifyRetract: false, NotifyDelete: true}, false},
		3: {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>1</value></field><field var='pubsub#persist_items'><value>1</value></field></x>`,
			true, true, pep.DefaultNodeConfig, true},
		4:  {`<x xmlns='jabber:x:data' type='form'/>`, false, false, pep.NodeConfig{}, false},
		5:  {`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:x</value></field></x>`, false, false, pep.NodeConfig{}, false},
		6:  {`<x xmlns='jabber:x:data' type='submit'><field><value>1</value></field></x>`, false, false, pep.NodeConfig{}, false},
		7:  {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>0</value></field></x>`, true, false, pep.NodeConfig{}, false},
		8:  {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>1</value><value>2</value></field></x>`, true, false, pep.NodeConfig{}, false},
		9:  {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#persist_items'><value>yes</value></field></x>`, true, false, pep.NodeConfig{}, false},
		10: {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>roster</value></field></x>`, true, false, pep.NodeConfig{}, false},
		11: {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#send_last_published_item'><value>always</value></field></x>`, true, false, pep.NodeConfig{}, false},
		12: {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#title'><value>x</value></field></x>`, true, false, pep.NodeConfig{}, false},
		13: {`<y xmlns='jabber:x:data' type='submit'/>`, false, false, pep.NodeConfig{}, false},
		14: {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#deliver_payloads'><value>true</value></field><field var='pubsub#deliver_notifications'><value>1</value></field></x>`,
			true, true, pep.DefaultNodeConfig, true},
		15: {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#deliver_payloads'><value>false</value></field></x>`, true, false, pep.NodeConfig{}, false},
		16: {`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#notify_delete'><value>false</value></field></x>`, true, true,
			pep.NodeConfig{Access: "presence", PersistItems: true, MaxItems: 1, SendLast: "on_sub_and_presence", NotifyRetract: true, NotifyDelete: false}, false},
	} {
		x, err := xml.Parse([]byte(tc.form), "")
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		fields, err := pep.ParseForm(x, pep.FormPublishOption)
		if (err == nil) != tc.parse {
			t.Errorf("%d: ParseForm error %v, want success %v", i, err, tc.parse)
			continue
		}
		if !tc.parse {
			continue
		}
		got, err := pep.DefaultNodeConfig.Apply(fields)
		if (err == nil) != tc.apply {
			t.Errorf("%d: Apply error %v, want success %v", i, err, tc.apply)
			continue
		}
		if tc.apply && got != tc.want {
			t.Errorf("%d: Apply = %+v, want %+v", i, got, tc.want)
		}
		if m := pep.DefaultNodeConfig.Meets(fields); m != tc.matches {
			t.Errorf("%d: Meets = %v, want %v", i, m, tc.matches)
		}
	}
}

// FuzzPublishOptions parses arbitrary publish-options forms: never a
// panic; a configuration that Apply accepts meets its own fields, and its
// form, submitted back, gives it again.
func FuzzPublishOptions(f *testing.F) {
	f.Add([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field></x>`))
	f.Add([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#persist_items'><value>true</value></field></x>`))
	f.Add([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>-1</value></field></x>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := xml.Parse(data, "")
		if err != nil {
			return
		}
		fields, err := pep.ParseForm(x, pep.FormPublishOption)
		if err != nil {
			return
		}
		cfg, err := pep.DefaultNodeConfig.Apply(fields)
		if err != nil {
			return
		}
		if !cfg.Meets(fields) {
			t.Fatalf("%+v does not meet the fields it was made from: %q", cfg, fields)
		}
		// Round trip through the configuration form.
		form := cfg.Form()
		form.SetAttr("type", "submit")
		again, err := pep.ParseForm(form, pep.FormNodeConfig)
		if err != nil {
			t.Fatalf("own form: %v", err)
		}
		back, err := pep.NodeConfig{}.Apply(again)
		if err != nil || back != cfg {
			t.Fatalf("form round trip: %+v (%v), want %+v", back, err, cfg)
		}
	})
}
