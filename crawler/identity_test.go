package crawler

import (
	"reflect"
	"slices"
	"testing"
)

// TestConfig_EveryFieldClassified fails for a Config field that is neither
// a shared setting of a crawl over Redis nor a per-node one: a new field
// must be classified, or nodes disagreeing on it would share a crawl
// unnoticed.
func TestConfig_EveryFieldClassified(t *testing.T) {
	shared := DefaultConfig().sharedSettings()
	perNode := perNodeSettings()
	fields := reflect.TypeFor[Config]()
	for i := range fields.NumField() {
		name := fields.Field(i).Name
		_, isShared := shared[name]
		isPerNode := slices.Contains(perNode, name)
		switch {
		case !isShared && !isPerNode:
			t.Errorf("Config.%s is neither in sharedSettings nor in perNodeSettings: say whether the nodes of a shared crawl must agree on it", name)
		case isShared && isPerNode:
			t.Errorf("Config.%s is both in sharedSettings and in perNodeSettings", name)
		}
	}
	for name := range shared {
		if _, ok := fields.FieldByName(name); !ok {
			t.Errorf("sharedSettings names %s, which is no field of Config", name)
		}
	}
	for _, name := range perNode {
		if _, ok := fields.FieldByName(name); !ok {
			t.Errorf("perNodeSettings names %s, which is no field of Config", name)
		}
	}
}

// TestConfig_SharedIdentity: changing any shared setting changes the
// digest (so each is digested under its own value), changing a per-node
// one does not.
func TestConfig_SharedIdentity(t *testing.T) {
	base := DefaultConfig()
	base.Seeds = []string{"https://example.com/"}
	want := base.SharedIdentity()
	if again := base.SharedIdentity(); again != want {
		t.Fatalf("two digests of one config differ: %s, %s", want, again)
	}
	shared := base.sharedSettings()
	fields := reflect.TypeFor[Config]()
	for i := range fields.NumField() {
		f := fields.Field(i)
		changed := base
		changed.Seeds = slices.Clone(base.Seeds)
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch v.Kind() {
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Int, reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Float64:
			v.SetFloat(v.Float() + 1)
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Slice:
			v.Set(reflect.Append(v, reflect.ValueOf("x")))
		default:
			t.Fatalf("Config.%s: the test cannot change a %s; teach it", f.Name, v.Kind())
		}
		_, isShared := shared[f.Name]
		if got := changed.SharedIdentity(); (got != want) != isShared {
			t.Errorf("Config.%s changed (shared %v): digest %s, was %s", f.Name, isShared, got, want)
		}
	}
}
