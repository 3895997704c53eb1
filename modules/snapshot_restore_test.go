package modules

import "testing"

func TestRestoreToolFact(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want restoreTool
	}{
		{"etcdutl etcdutl version: 3.6.16\nbump\n", restoreTool{"etcdutl", "3.6.16", true}},
		{"etcdutl etcdutl version: 3.5.4\n", restoreTool{"etcdutl", "3.5.4", false}},
		{"etcdctl etcdctl version: 3.4.30\nbump\n", restoreTool{"etcdctl", "3.4.30", true}},
		{"", restoreTool{}},
	} {
		got, err := restoreToolFact.Parse(tc.out)
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.out, got, err, tc.want)
		}
	}
	if _, err := freeKBFact("/x").Parse("no space\n"); err == nil {
		t.Errorf("free space %q read without error", "no space")
	}
	if n, err := freeKBFact("/x").Parse("123456\n"); err != nil || n != 123456 {
		t.Errorf("free space: %d, %v", n, err)
	}
}
