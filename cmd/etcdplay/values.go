package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/etcdplay/etcdplay/inventory"
)

// Inventory values are printed as ansible-inventory prints them, so that
// what etcdplay shows reads the same to an Ansible user and to the tools
// that read ansible-inventory's output: floats keep their point (3.0,
// 1000.0; Go's encoding/json writes 3 and 1000, which read back as
// integers), infinities and NaN are Infinity, -Infinity and NaN as
// Python's json writes them, keys are sorted, and a value decrypted from
// Ansible Vault is inventory.VaultedText.

// jsonValue appends v as JSON: compact when indent is "", else with each
// element on its own line, indented by indent per level (Python's
// json.dumps(indent=4) when indent is four spaces).
func jsonValue(b []byte, v any, indent string, depth int) []byte {
	newline := func(d int) {
		if indent != "" {
			b = append(b, '\n')
			b = append(b, strings.Repeat(indent, d)...)
		}
	}
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		switch {
		case math.IsInf(v, 1):
			return append(b, "Infinity"...)
		case math.IsInf(v, -1):
			return append(b, "-Infinity"...)
		case math.IsNaN(v):
			return append(b, "NaN"...)
		}
		return append(b, inventory.FormatFloat(v)...)
	case string:
		return jsonString(b, v)
	case inventory.Vaulted:
		return jsonString(b, inventory.VaultedText)
	case []string:
		list := make([]any, len(v))
		for i, s := range v {
			list[i] = s
		}
		return jsonValue(b, list, indent, depth)
	case []any:
		if len(v) == 0 {
			return append(b, "[]"...)
		}
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			newline(depth + 1)
			b = jsonValue(b, x, indent, depth+1)
		}
		newline(depth)
		return append(b, ']')
	case map[string]any:
		if len(v) == 0 {
			return append(b, "{}"...)
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			newline(depth + 1)
			b = jsonString(b, k)
			b = append(b, ':')
			if indent != "" {
				b = append(b, ' ')
			}
			b = jsonValue(b, v[k], indent, depth+1)
		}
		newline(depth)
		return append(b, '}')
	}
	// Not an inventory value: whatever encoding/json makes of it.
	x, err := json.Marshal(v)
	if err != nil {
		return jsonString(b, fmt.Sprint(v))
	}
	return append(b, x...)
}

func jsonString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
