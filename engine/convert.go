package engine

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// ToStarlark converts a Go value from an inventory, a vars file or a
// module's result data to a Starlark value: nil, bool, integers, floats,
// strings, []byte, slices and maps with string keys.
func ToStarlark(v any) (starlark.Value, error) {
	switch v := v.(type) {
	case nil:
		return starlark.None, nil
	case starlark.Value:
		return v, nil
	case error:
		// An inventory variable that cannot be resolved
		// (*inventory.VarError): its error, which names the host, the
		// variable and the expression, is the conversion's.
		return nil, v
	case bool:
		return starlark.Bool(v), nil
	case string:
		return starlark.String(v), nil
	case []byte:
		return starlark.Bytes(v), nil
	case int:
		return starlark.MakeInt(v), nil
	case int64:
		return starlark.MakeInt64(v), nil
	case uint64:
		return starlark.MakeUint64(v), nil
	case float64:
		return starlark.Float(v), nil
	case time.Duration:
		return starlark.String(v.String()), nil
	case time.Time:
		return starlark.String(v.Format(time.RFC3339)), nil
	case []string:
		l := make([]starlark.Value, len(v))
		for i, s := range v {
			l[i] = starlark.String(s)
		}
		return starlark.NewList(l), nil
	case []any:
		l := make([]starlark.Value, len(v))
		for i, x := range v {
			sv, err := ToStarlark(x)
			if err != nil {
				return nil, err
			}
			l[i] = sv
		}
		return starlark.NewList(l), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(v))
		for _, k := range keys {
			sv, err := ToStarlark(v[k])
			if err != nil {
				return nil, err
			}
			d.SetKey(starlark.String(k), sv)
		}
		return d, nil
	}
	// Other integer, float, slice and map types, by reflection.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return starlark.MakeInt64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return starlark.MakeUint64(rv.Uint()), nil
	case reflect.Float32:
		return starlark.Float(rv.Float()), nil
	case reflect.String:
		return starlark.String(rv.String()), nil
	case reflect.Slice, reflect.Array:
		l := make([]starlark.Value, rv.Len())
		for i := range l {
			sv, err := ToStarlark(rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			l[i] = sv
		}
		return starlark.NewList(l), nil
	case reflect.Map:
		d := starlark.NewDict(rv.Len())
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			sk, err := ToStarlark(k.Interface())
			if err != nil {
				return nil, err
			}
			sv, err := ToStarlark(rv.MapIndex(k).Interface())
			if err != nil {
				return nil, err
			}
			if err := d.SetKey(sk, sv); err != nil {
				return nil, err
			}
		}
		return d, nil
	case reflect.Pointer:
		if rv.IsNil() {
			return starlark.None, nil
		}
		return ToStarlark(rv.Elem().Interface())
	}
	return nil, fmt.Errorf("cannot use a Go %T in a playbook", v)
}

// FromStarlark converts a Starlark value to plain Go values (nil, bool,
// int64 or *big.Int, float64, string, []any, map[string]any) for modules
// and JSON output. Hosts become their names.
func FromStarlark(v starlark.Value) (any, error) {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, nil
		}
		return v.BigInt(), nil
	case starlark.Float:
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			return nil, fmt.Errorf("cannot use %s outside a playbook", v)
		}
		return float64(v), nil
	case starlark.String:
		return string(v), nil
	case starlark.Bytes:
		return string(v), nil
	case *Host:
		return v.Name(), nil
	case starlark.IterableMapping:
		m := map[string]any{}
		for _, kv := range v.Items() {
			k, ok := starlark.AsString(kv[0])
			if !ok {
				if h, isHost := kv[0].(*Host); isHost {
					k = h.Name()
				} else {
					return nil, fmt.Errorf("dict key %s: want a string", kv[0].Type())
				}
			}
			x, err := FromStarlark(kv[1])
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		return m, nil
	case starlark.Iterable:
		var l []any
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			g, err := FromStarlark(x)
			if err != nil {
				return nil, err
			}
			l = append(l, g)
		}
		if l == nil {
			l = []any{}
		}
		return l, nil
	}
	return nil, fmt.Errorf("cannot use a %s here", v.Type())
}

// frozenCopy returns v, or for a mutable container (list, dict, set, and
// tuples or structs holding one) a deep copy, frozen. Module arguments are
// passed through it: the hosts' goroutines then read values nobody can
// change, while the playbook keeps its own mutable originals. (Starlark
// counts iterations of unfrozen lists, so even reading one from several
// goroutines is a data race.)
func frozenCopy(v starlark.Value) (starlark.Value, error) {
	return frozenCopyDepth(v, 0)
}

func frozenCopyDepth(v starlark.Value, depth int) (starlark.Value, error) {
	if depth > 64 {
		return nil, fmt.Errorf("value nested too deep (or containing itself)")
	}
	var out starlark.Value
	switch x := v.(type) {
	case *starlark.List:
		elems := make([]starlark.Value, x.Len())
		for i := range elems {
			e, err := frozenCopyDepth(x.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			elems[i] = e
		}
		out = starlark.NewList(elems)
	case starlark.Tuple:
		elems := make(starlark.Tuple, len(x))
		for i, e := range x {
			c, err := frozenCopyDepth(e, depth+1)
			if err != nil {
				return nil, err
			}
			elems[i] = c
		}
		out = elems
	case *starlark.Dict:
		d := starlark.NewDict(x.Len())
		for _, kv := range x.Items() {
			c, err := frozenCopyDepth(kv[1], depth+1)
			if err != nil {
				return nil, err
			}
			d.SetKey(kv[0], c)
		}
		out = d
	case *starlark.Set:
		s := starlark.NewSet(x.Len())
		it := x.Iterate()
		var e starlark.Value
		for it.Next(&e) {
			s.Insert(e) // set elements are hashable, hence immutable
		}
		it.Done()
		out = s
	case *starlarkstruct.Struct:
		var kwargs []starlark.Tuple
		for _, name := range x.AttrNames() {
			f, err := x.Attr(name)
			if err != nil {
				return nil, err
			}
			c, err := frozenCopyDepth(f, depth+1)
			if err != nil {
				return nil, err
			}
			kwargs = append(kwargs, starlark.Tuple{starlark.String(name), c})
		}
		out = starlarkstruct.FromKeywords(x.Constructor(), kwargs)
	default:
		return v, nil
	}
	out.Freeze()
	return out, nil
}
