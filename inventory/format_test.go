package inventory

import (
	"math"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestFormatFloat(t *testing.T) {
	// What Python's repr() prints for each (and so ansible-inventory).
	for f, want := range map[float64]string{
		3.0:          "3.0",
		1e3:          "1000.0",
		12:           "12.0",
		0.1:          "0.1",
		-2.5:         "-2.5",
		1e16:         "1e+16",
		1e15:         "1000000000000000.0",
		1.5e-05:      "1.5e-05",
		0.0001:       "0.0001",
		0:            "0.0",
		math.Inf(1):  "inf",
		math.Inf(-1): "-inf",
	} {
		if got := FormatFloat(f); got != want {
			t.Errorf("FormatFloat(%v) = %q, want %q", f, got, want)
		}
	}
	if got := FormatFloat(math.Copysign(0, -1)); got != "-0.0" {
		t.Errorf("FormatFloat(-0.0) = %q", got)
	}
	if got := FormatFloat(math.NaN()); got != "nan" {
		t.Errorf("FormatFloat(NaN) = %q", got)
	}
}

// TestYAMLNodeReadsBack: what YAMLNode writes, this package (and so
// Ansible's PyYAML) reads back as the same values.
func TestYAMLNodeReadsBack(t *testing.T) {
	vars := map[string]any{
		"f": 3.0, "big": 1e16, "inf": math.Inf(1), "ninf": math.Inf(-1), "i": 7,
		"yes": "yes", "octal": "0755", "null": "null", "float_text": "3.0", "empty": "",
		"b": true, "n": nil, "list": []any{1, "on", 2.5}, "map": map[string]any{"k": "v", "off": false},
	}
	doc := map[string]any{"all": map[string]any{"hosts": map[string]any{"h": vars}}}
	out, err := yaml.Marshal(YAMLNode(doc))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Parse("round.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	h, _ := inv.Host("h")
	for k, want := range vars {
		if got := h.Vars[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read back %#v, want %#v\n%s", k, got, want, out)
		}
	}
}
