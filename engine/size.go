package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// Size is a module argument for an amount of bytes: a number, or a string
// with a unit as etcd and people write them ("64MB", "1.5GiB", "8kB";
// kB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB of 1024).
type Size int64

// Unpack implements starlark.Unpacker.
func (s *Size) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 0 {
			return fmt.Errorf("got %s, want a size of zero or more bytes", v)
		}
		*s = Size(n)
		return nil
	case starlark.String:
		n, err := ParseSize(string(v))
		*s = Size(n)
		return err
	}
	return fmt.Errorf("got %s, want a size such as 64MB or a number of bytes", v.Type())
}

var sizeUnits = []struct {
	suffix string
	factor float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseSize reads a size: "1048576", "64MB", "1.5GiB", "512k".
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	factor := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, factor = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.factor
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || math.IsNaN(n) || n*factor > math.MaxInt64 {
		return 0, fmt.Errorf("got %q, want a size such as 64MB, 1GiB or a number of bytes", s)
	}
	return int64(n * factor), nil
}
